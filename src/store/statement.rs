//! Statements as values: built once, run by whichever connection a write has (sqlx's, or rusqlite's on
//! SQLite's writer thread), so the shared commits and the webhook outbox are written once for both.

use super::row::Row;
use super::StoreResult;
use sqlx::{Any, AnyConnection, AssertSqlSafe};

/// One value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Bind {
    /// Text (JSON rows, keys, ids, payloads).
    Text(String),
    /// An integer (a time in epoch milliseconds, a count, a position).
    Int(i64),
    /// NULL.
    Null,
}

impl From<&str> for Bind {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}

impl From<String> for Bind {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}

impl From<i64> for Bind {
    fn from(int: i64) -> Self {
        Self::Int(int)
    }
}

impl From<Option<String>> for Bind {
    fn from(text: Option<String>) -> Self {
        text.map_or(Self::Null, Self::Text)
    }
}

/// A statement and its values, numbered `$1`, `$2`, … in its own text.
#[derive(Debug, Clone)]
pub(crate) struct Statement {
    /// The SQL, in the dialect both engines share.
    pub(crate) sql: String,
    /// The values of `$1`, `$2`, …
    pub(crate) binds: Vec<Bind>,
    /// Whether PostgreSQL may keep it prepared. Not a statement that joins its rows to a table that
    /// grows (`messages`, `conversations`): PostgreSQL would go on running a generic plan cached while the
    /// table was small. One cached when `messages` held a few hundred rows (a hash join over a sequential
    /// scan) read the whole table at every commit as it grew: at 10,000 widget messages a second, 84–96
    /// million rows read in a 20-second run, PostgreSQL at ~24 CPU-s instead of ~17 and an ack p50 of
    /// ~90 instead of ~15 ms, in the runs that happened to cache it (issue 14). SQLite plans from the
    /// schema alone: there every statement stays prepared.
    pub(crate) prepared: bool,
}

impl Statement {
    /// `sql` with `binds`, kept prepared.
    pub(crate) fn new(sql: impl Into<String>, binds: Vec<Bind>) -> Self {
        Self { sql: sql.into(), binds, prepared: true }
    }
}

/// What a statement did: its rows, and how many rows it changed.
#[derive(Default)]
pub(crate) struct Done {
    /// The rows it returned.
    pub(crate) rows: Vec<Row>,
    /// The rows it inserted, updated or deleted.
    pub(crate) affected: u64,
}

/// A connection inside a transaction that runs [`Statement`]s.
pub(crate) trait Run {
    /// Runs `statements` in order; returns what each did.
    async fn run(&mut self, statements: &[Statement]) -> StoreResult<Vec<Done>>;

    /// Runs one statement; returns its rows.
    async fn rows(&mut self, statement: &Statement) -> StoreResult<Vec<Row>> {
        let done = self.run(std::slice::from_ref(statement)).await?;
        Ok(done.into_iter().next().map(|done| done.rows).unwrap_or_default())
    }
}

impl Run for AnyConnection {
    async fn run(&mut self, statements: &[Statement]) -> StoreResult<Vec<Done>> {
        let mut done = Vec::with_capacity(statements.len());
        for statement in statements {
            let mut query = sqlx::query(AssertSqlSafe(statement.sql.as_str())).persistent(statement.prepared);
            for bind in &statement.binds {
                query = match bind {
                    Bind::Text(text) => query.bind(text.as_str()),
                    Bind::Int(int) => query.bind(*int),
                    Bind::Null => query.bind(None::<String>),
                };
            }
            done.push(results(query, self).await?);
        }
        Ok(done)
    }
}

/// Every row of `query` and how many rows it changed. sqlx deprecates `fetch_many` (since 0.8), its only
/// way to have both from one execution.
#[allow(deprecated)]
async fn results<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    conn: &mut AnyConnection,
) -> Result<Done, sqlx::Error> {
    use futures_util::TryStreamExt;
    let mut done = Done::default();
    let mut results = query.fetch_many(conn);
    while let Some(result) = results.try_next().await? {
        match result {
            sqlx::Either::Left(summary) => done.affected += summary.rows_affected(),
            sqlx::Either::Right(row) => done.rows.push(Row::Any(row)),
        }
    }
    Ok(done)
}
