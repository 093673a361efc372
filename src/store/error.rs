//! The store's errors: one type for every store call, whichever engine and driver failed.

/// Which store operation failed when the error does not say (an error converted without [`Context`]).
const UNNAMED: &str = "a store call";

/// Why a store call failed. The variants that carry an engine error also name the store operation that
/// failed (`context`), so a log line says what was being done, not only what went wrong; clients never
/// see it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The engine cannot be reached or the pool has no free connection in time: try again later.
    #[error("{context}: the store is unavailable: {source}")]
    Unavailable {
        /// The store operation that failed.
        context: &'static str,
        /// The engine's error.
        #[source]
        source: EngineError,
    },
    /// A unique constraint refused the write.
    #[error("a record with the same unique value already exists")]
    Duplicate,
    /// The license is suspended: nothing more is stored for it.
    #[error("the license is suspended")]
    LicenseSuspended,
    /// The engine refused a value the edge should have refused (e.g. U+0000 on PostgreSQL).
    #[error("the store refused a value: {0}")]
    InvalidValue(String),
    /// A stored value does not parse back into its domain type.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// Any other engine error: a bug or a broken schema.
    #[error("{context}: store error: {source}")]
    Database {
        /// The store operation that failed.
        context: &'static str,
        /// The engine's error.
        #[source]
        source: EngineError,
    },
}

/// The engine error behind a [`StoreError`], from either driver.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// sqlx's (every read, PostgreSQL's writes, SQLite's writes outside the shared commits).
    #[error(transparent)]
    Sqlx(#[from] sqlx::Error),
    /// rusqlite's (SQLite's shared commits, on their own thread).
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// A failure told again (to another waiter of a failed batch), or SQLite's writer thread gone.
    #[error("{0}")]
    Told(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::WorkerCrashed => Self::Unavailable { context: UNNAMED, source: err.into() },
            sqlx::Error::Database(db) if db.is_unique_violation() => Self::Duplicate,
            // PostgreSQL's class 22 (data exception): e.g. U+0000 in text, which it cannot store.
            sqlx::Error::Database(db) if db.code().is_some_and(|c| c.starts_with("22")) => {
                Self::InvalidValue(db.message().to_owned())
            }
            sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => Self::Corrupt(err.to_string()),
            _ => Self::Database { context: UNNAMED, source: err.into() },
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        use rusqlite::{ffi, ErrorCode};
        let unique = [ffi::SQLITE_CONSTRAINT_UNIQUE, ffi::SQLITE_CONSTRAINT_PRIMARYKEY];
        match err.sqlite_error() {
            Some(e) if unique.contains(&e.extended_code) => Self::Duplicate,
            Some(e)
                if matches!(
                    e.code,
                    ErrorCode::DatabaseBusy
                        | ErrorCode::DatabaseLocked
                        | ErrorCode::SystemIoFailure
                        | ErrorCode::DiskFull
                        | ErrorCode::CannotOpen
                        | ErrorCode::OutOfMemory
                ) =>
            {
                Self::Unavailable { context: UNNAMED, source: err.into() }
            }
            _ => Self::Database { context: UNNAMED, source: err.into() },
        }
    }
}

impl StoreError {
    /// The same failure for another waiter of a failed batch (sqlx errors cannot be cloned); keeps
    /// "unavailable" unavailable, so callers still answer 503.
    pub fn for_another_waiter(&self) -> Self {
        match self {
            Self::Unavailable { context, .. } => {
                Self::Unavailable { context, source: EngineError::Told(self.to_string()) }
            }
            Self::Duplicate => Self::Duplicate,
            Self::LicenseSuspended => Self::LicenseSuspended,
            Self::InvalidValue(reason) => Self::InvalidValue(reason.clone()),
            other => Self::Corrupt(other.to_string()),
        }
    }

    /// Names the operation that failed, unless a deeper call already did.
    fn within(self, operation: &'static str) -> Self {
        match self {
            Self::Unavailable { context: UNNAMED, source } => Self::Unavailable { context: operation, source },
            Self::Database { context: UNNAMED, source } => Self::Database { context: operation, source },
            other => other,
        }
    }
}

/// Names the store operation a failure happened in: `query.execute(pool).await.context("mark_read")?`.
pub(super) trait Context<T> {
    /// Converts the error into a [`StoreError`] that names `operation`.
    fn context(self, operation: &'static str) -> StoreResult<T>;
}

impl<T, E: Into<StoreError>> Context<T> for Result<T, E> {
    fn context(self, operation: &'static str) -> StoreResult<T> {
        self.map_err(|err| err.into().within(operation))
    }
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
