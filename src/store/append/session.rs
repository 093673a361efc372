//! The transaction a shared commit runs in, and how its statements reach the engine.
//!
//! On PostgreSQL a commit is a pooled transaction whose statements go out one by one. On SQLite every
//! statement is a round trip to sqlx's worker thread (a command in, a reply out, each waking a thread),
//! and `BEGIN`, `COMMIT` and a pooled connection's return (a ping) are round trips of their own: measured
//! at 200 messages a second, that worker switched 18 times a message and took half the server's CPU.
//! So SQLite's commits run on a connection of their own ([`SqliteWriter`]) and the statements that
//! follow one another without Rust in between go out as one command: `BEGIN IMMEDIATE` with the first
//! ones, `COMMIT` with the last (two round trips for a commit that nobody listens to by webhook).

use crate::store::{Context, StoreError, StoreResult, SQLITE_PRAGMAS};
use futures_util::TryStreamExt;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyConnection, AssertSqlSafe, Connection, Either, Executor, Transaction};
use std::sync::Arc;
use tokio::sync::{Mutex, OwnedMutexGuard};

/// One value bound to a statement.
#[derive(Debug, Clone)]
pub(super) enum Bind {
    /// Text (here: the JSON rows of a statement, or a license key).
    Text(String),
    /// An integer (here: a time in epoch milliseconds).
    Int(i64),
}

/// A statement and its values, numbered `$1`, `$2`, … in its own text.
#[derive(Debug, Clone)]
pub(super) struct Statement {
    /// The SQL, in the dialect both engines share.
    pub(super) sql: String,
    /// The values of `$1`, `$2`, …
    pub(super) binds: Vec<Bind>,
    /// Whether PostgreSQL may keep it prepared. Not a statement that joins its rows to a table that
    /// grows (`messages`, `conversations`): PostgreSQL would go on running a generic plan cached while the
    /// table was small. One cached when `messages` held a few hundred rows (a hash join over a sequential
    /// scan) read the whole table at every commit as it grew: at 10,000 widget messages a second, 84–96
    /// million rows read in a 20-second run, PostgreSQL at ~24 CPU-s instead of ~17 and an ack p50 of
    /// ~90 instead of ~15 ms, in the runs that happened to cache it (issue 14). SQLite plans from the
    /// schema alone: there every statement stays prepared.
    pub(super) prepared: bool,
}

/// What a statement did: its rows, and how many rows it changed.
#[derive(Default)]
pub(super) struct Done {
    /// The rows it returned.
    pub(super) rows: Vec<AnyRow>,
    /// The rows it inserted, updated or deleted.
    pub(super) affected: u64,
}

/// SQLite's connection for shared commits, apart from the pool (so no checkout and no ping on return).
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    /// Where to (re)connect.
    url: String,
    /// The connection, opened at the first commit and again after one that failed on it.
    conn: Option<AnyConnection>,
    /// A transaction is open: from a commit's first statements to its end, and after a commit cancelled
    /// midway (its caller went away) until the next one begins, which rolls it back first.
    open: bool,
}

impl SqliteWriter {
    /// A writer for the SQLite database at `url`; it connects at its first commit.
    pub(crate) fn new(url: String) -> Arc<Mutex<Self>> {
        Arc::new(Mutex::new(Self { url, conn: None, open: false }))
    }
}

/// A shared commit's transaction.
pub(super) enum Session {
    /// PostgreSQL: a pooled transaction.
    Postgres(Transaction<'static, Any>),
    /// SQLite: the writer's connection; `BEGIN IMMEDIATE` goes out with the first statements.
    Sqlite(OwnedMutexGuard<SqliteWriter>),
}

impl Session {
    /// Opens a commit's transaction on PostgreSQL's pool, or takes SQLite's writer connection.
    pub(super) async fn begin(pool: &sqlx::AnyPool, writer: Option<&Arc<Mutex<SqliteWriter>>>) -> StoreResult<Self> {
        let Some(writer) = writer else {
            return Ok(Self::Postgres(pool.begin().await.context("append_shared")?));
        };
        let mut writer = writer.clone().lock_owned().await;
        // A commit cancelled midway (its caller went away) left its transaction open: end it first.
        writer.end_open().await;
        Ok(Self::Sqlite(writer))
    }

    /// Runs `statements` in order and returns each one's rows.
    pub(super) async fn run(&mut self, statements: &[Statement]) -> StoreResult<Vec<Done>> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        match self {
            Self::Postgres(tx) => run_each(tx, statements).await,
            Self::Sqlite(writer) => run_joined(writer, statements, false).await,
        }
    }

    /// Runs `statements`, then commits; returns their rows.
    pub(super) async fn commit(self, statements: &[Statement]) -> StoreResult<Vec<Done>> {
        match self {
            Self::Postgres(mut tx) => {
                let rows = run_each(&mut tx, statements).await?;
                tx.commit().await.context("append_shared")?;
                Ok(rows)
            }
            Self::Sqlite(mut writer) => {
                let done = run_joined(&mut writer, statements, true).await;
                match done {
                    Ok(_) => writer.open = false,
                    // Not left open until the next commit: it holds the write lock.
                    Err(_) => writer.end_open().await,
                }
                done
            }
        }
    }

    /// Ends the transaction without storing anything (PostgreSQL rolls back when it is dropped).
    pub(super) async fn rollback(self) {
        if let Self::Sqlite(mut writer) = self {
            writer.end_open().await;
        }
    }

    /// The connection, for statements written elsewhere (the outbox). On SQLite, call after [`Self::run`]
    /// (which began the transaction).
    pub(super) fn connection(&mut self) -> StoreResult<&mut AnyConnection> {
        match self {
            Self::Postgres(tx) => Ok(&mut **tx),
            Self::Sqlite(writer) => {
                writer.conn.as_mut().ok_or_else(|| StoreError::Corrupt("no writer connection".into()))
            }
        }
    }
}

impl SqliteWriter {
    /// Rolls back a transaction left open. A connection that cannot is closed, which ends it too.
    async fn end_open(&mut self) {
        if let (true, Some(conn)) = (self.open, self.conn.as_mut()) {
            if let Err(err) = conn.execute("ROLLBACK").await {
                tracing::warn!(%err, "the shared writer's connection could not roll back; reconnecting");
                self.conn = None;
            }
        }
        self.open = false;
    }

    /// Passes `result` on; on an error the connection is dropped (a fresh one is opened at the next
    /// commit, with no transaction left open).
    fn lose_on_error<T>(&mut self, result: Result<T, sqlx::Error>) -> StoreResult<T> {
        if result.is_err() {
            self.conn = None;
            self.open = false;
        }
        result.context("append_shared")
    }
}

/// The writer's connection, opened (with the pool's pragmas) if it has none.
async fn connection(writer: &mut SqliteWriter) -> StoreResult<&mut AnyConnection> {
    if writer.conn.is_none() {
        let mut conn = AnyConnection::connect(&writer.url).await.context("append_shared")?;
        conn.execute(SQLITE_PRAGMAS).await.context("append_shared")?;
        writer.conn = Some(conn);
    }
    writer.conn.as_mut().ok_or_else(|| StoreError::Corrupt("no writer connection".into()))
}

/// PostgreSQL: each statement on its own (one statement per extended-protocol message).
async fn run_each(conn: &mut AnyConnection, statements: &[Statement]) -> StoreResult<Vec<Done>> {
    let mut done = Vec::with_capacity(statements.len());
    for statement in statements {
        let query =
            bound(sqlx::query(AssertSqlSafe(statement.sql.as_str())).persistent(statement.prepared), &statement.binds);
        done.extend(split(results(query, conn).await.context("append_shared")?, 1)?);
    }
    Ok(done)
}

/// SQLite: every statement in one command to the worker thread, their `$n` renumbered to follow one
/// another, with `BEGIN IMMEDIATE` before them unless the transaction is open and `COMMIT` after them
/// when asked. On an error the transaction stays open for the caller's [`Session::rollback`].
async fn run_joined(writer: &mut SqliteWriter, statements: &[Statement], commit: bool) -> StoreResult<Vec<Done>> {
    let begin = !writer.open;
    writer.open = true;
    let mut sql = String::new();
    let mut binds = Vec::new();
    if begin {
        // The transaction takes the write lock at once: it reads before it writes, and a deferred one
        // would fail (busy snapshot) if a pooled connection committed in between.
        sql.push_str("BEGIN IMMEDIATE;\n");
    }
    for statement in statements {
        sql.push_str(&renumbered(&statement.sql, binds.len()));
        sql.push_str(";\n");
        binds.extend(statement.binds.iter().cloned());
    }
    if commit {
        sql.push_str("COMMIT;");
    }
    let conn = connection(writer).await?;
    let results = match results(bound(sqlx::query(AssertSqlSafe(sql.as_str())), &binds), conn).await {
        // A statement the engine refused leaves the connection usable; an I/O failure does not.
        Err(err @ (sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed)) => return writer.lose_on_error(Err(err)),
        other => other.context("append_shared")?,
    };
    let mut done = split(results, usize::from(begin) + statements.len() + usize::from(commit))?;
    done.truncate(usize::from(begin) + statements.len());
    Ok(done.split_off(usize::from(begin)))
}

/// Every result of `query`: rows and each statement's summary. sqlx deprecates `fetch_many` (since 0.8)
/// because only its SQLite driver runs several statements with parameters in one command, which is the
/// point here (PostgreSQL runs one statement a call); should a later sqlx drop it, SQLite's joined
/// commands go back to one statement a command, and only this module changes.
#[allow(deprecated)]
async fn results<'q>(
    query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    conn: &mut AnyConnection,
) -> Result<Vec<Either<sqlx::any::AnyQueryResult, AnyRow>>, sqlx::Error> {
    query.fetch_many(conn).try_collect().await
}

/// The results of statements run in one command, statement by statement: each one ends with its
/// summary (`Left`), and the rows before it are its own. `expected`: how many statements ran.
fn split(results: Vec<Either<sqlx::any::AnyQueryResult, AnyRow>>, expected: usize) -> StoreResult<Vec<Done>> {
    let mut done = Vec::new();
    let mut current = Done::default();
    for result in results {
        match result {
            Either::Left(summary) => {
                current.affected = summary.rows_affected();
                done.push(std::mem::take(&mut current));
            }
            Either::Right(row) => current.rows.push(row),
        }
    }
    match done.len() == expected {
        true => Ok(done),
        false => Err(StoreError::Corrupt(format!("{expected} statements answered {} times", done.len()))),
    }
}

/// `sql` with each `$n` moved on by `offset`: statements joined into one command share its parameters.
fn renumbered(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// `query` with `binds` bound in order.
fn bound<'q>(
    mut query: sqlx::query::Query<'q, Any, sqlx::any::AnyArguments>,
    binds: &'q [Bind],
) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments> {
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text.as_str()),
            Bind::Int(int) => query.bind(*int),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::{renumbered, Bind, Session, Statement};
    use crate::store::Store;
    use sqlx::Row;

    fn statement(sql: &str, binds: Vec<Bind>) -> Statement {
        Statement { sql: sql.to_owned(), binds, prepared: true }
    }

    /// The rows of `probe`, read in a commit of their own.
    async fn probed(store: &Store) -> anyhow::Result<Vec<i64>> {
        let session = Session::begin(store.pool(), store.writer.as_ref()).await?;
        let done = session.commit(&[statement("SELECT x FROM probe ORDER BY x", vec![])]).await?;
        Ok(done[0].rows.iter().map(|row| row.try_get::<i64, _>("x")).collect::<Result<_, _>>()?)
    }

    #[tokio::test]
    async fn sqlite_commits_join_their_statements_and_never_leave_a_transaction_open() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("sb_session_{}.db", uuid::Uuid::new_v4().simple()));
        let store = Store::connect(&format!("sqlite://{}", path.display()), 2).await?;
        let create = statement("CREATE TABLE probe (x INTEGER NOT NULL)", vec![]);
        Session::begin(store.pool(), store.writer.as_ref()).await?.commit(&[create]).await?;

        // Two statements in one command, each with its own `$1`.
        let insert = |x| statement("INSERT INTO probe (x) VALUES ($1)", vec![Bind::Int(x)]);
        let done = Session::begin(store.pool(), store.writer.as_ref()).await?.commit(&[insert(1), insert(2)]).await?;
        assert_eq!(done.iter().map(|d| d.affected).collect::<Vec<_>>(), [1, 1]);

        // A commit abandoned midway (its caller went away) stores nothing, and the next one still runs.
        let mut abandoned = Session::begin(store.pool(), store.writer.as_ref()).await?;
        abandoned.run(&[insert(3)]).await?;
        drop(abandoned);
        assert_eq!(probed(&store).await?, [1, 2]);

        // A statement the engine refuses fails its commit alone and releases the write lock at once: a
        // pooled connection writes right after it.
        let mut failing = Session::begin(store.pool(), store.writer.as_ref()).await?;
        failing.run(&[insert(4)]).await?;
        assert!(failing.commit(&[statement("INSERT INTO probe (x) VALUES (NULL)", vec![])]).await.is_err());
        sqlx::query("INSERT INTO probe (x) VALUES (5)").execute(store.pool()).await?;
        assert_eq!(probed(&store).await?, [1, 2, 5]);
        Ok(())
    }

    #[test]
    fn joined_statements_number_their_parameters_after_the_ones_before() {
        assert_eq!(renumbered("SELECT $1, $2 FROM json_each($1)", 0), "SELECT $1, $2 FROM json_each($1)");
        assert_eq!(renumbered("SELECT $1, $12 WHERE x ->> 0 = $2", 3), "SELECT $4, $15 WHERE x ->> 0 = $5");
        assert_eq!(renumbered("SELECT '$'", 2), "SELECT '$'");
    }
}
