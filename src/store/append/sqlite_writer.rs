//! SQLite's shared commits, each run whole on a thread of their own.
//!
//! Through sqlx every statement of a commit was a round trip to its SQLite worker thread, and every row
//! and every statement's summary woke the waiting task again: at 1,000 Socket.IO dashboards and 200
//! messages a second, ~8 of the ~12 wake-ups of one server thread by another that a message cost
//! (`perf record -e sched:sched_wakeup`, issue 14). Here the thread that owns the connection runs all of
//! a commit, the Rust between its statements included; and since the node's commit lane runs on that
//! thread too ([`SqliteWriter::spawn`]), a message's commit is one hand-off from its conversation's actor
//! to this thread and one back (~5.4 wake-ups of one server thread by another a message in all, from
//! ~12.4; 0.95× and then 0.96× the CPU per delivery at 1,000 Socket.IO dashboards).

use super::session::Session;
use crate::store::row::{Row, SqliteRow};
use crate::store::statement::{Bind, Done, Statement};
use crate::store::{EngineError, StoreError, StoreResult, SQLITE_PRAGMAS};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::Connection;
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::thread::ThreadId;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot};

/// Statements kept prepared on the writer's connection: the commits' few, and the list-shaped ones
/// (one text per list length) that come and go.
const PREPARED: usize = 64;

/// Work for the writer thread from another thread: given the connection's owner, it runs to its end.
type Job = Box<dyn FnOnce(&mut Owner) + Send>;

thread_local! {
    /// The connection, on the writer's thread (and nowhere else).
    static OWNER: RefCell<Option<Owner>> = const { RefCell::new(None) };
}

/// A handle on SQLite's writer thread, which ends once every handle is dropped.
#[derive(Debug)]
pub(crate) struct SqliteWriter {
    /// The thread's event loop, for what runs beside the commits ([`Self::spawn`]).
    runtime: Handle,
    /// The thread, where a transaction runs at once.
    thread: ThreadId,
    /// Transactions asked for from other threads.
    jobs: mpsc::UnboundedSender<Job>,
}

impl SqliteWriter {
    /// Starts the writer thread for the database at `url` (sqlx's `sqlite:` URL); it connects at its
    /// first transaction.
    pub(crate) fn start(url: &str) -> StoreResult<Self> {
        let failed = |e: std::io::Error| StoreError::Unavailable {
            context: "connect",
            source: EngineError::Told(e.to_string()),
        };
        // Timers only: the thread does no network I/O, and without tokio's I/O driver it sleeps on a futex
        // instead of `epoll_wait`, so each wake-up by an actor (one a message at low rates) costs less
        // (measured: 0.969 of the CPU per delivery at 1,000 Socket.IO dashboards).
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().map_err(failed)?;
        let handle = runtime.handle().clone();
        let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
        let owner = Owner { uri: file_uri(url), conn: None };
        let thread = std::thread::Builder::new().name("sqlite-writer".into()).spawn(move || {
            OWNER.with(|cell| *cell.borrow_mut() = Some(owner));
            // Until the last handle is dropped; whatever was spawned beside the commits ends with it.
            runtime.block_on(async move {
                while let Some(job) = queue.recv().await {
                    OWNER.with(|cell| cell.borrow_mut().as_mut().map(job));
                }
            });
        });
        let thread = thread.map_err(failed)?.thread().id();
        Ok(Self { runtime: handle, thread, jobs })
    }

    /// Runs `future` on the writer's thread, where the transactions it asks for run at once, with no
    /// hand-off to another thread and back (the node's commit lane, `actors::conversation::writer`).
    pub(crate) fn spawn(&self, future: impl Future<Output = ()> + Send + 'static) {
        self.runtime.spawn(future);
    }

    /// Runs `body` in a transaction on the writer's thread: `BEGIN IMMEDIATE` before it (it reads before
    /// it writes, and a deferred transaction would fail with a busy snapshot if a pooled connection
    /// committed in between); `body` commits through [`Session::commit`]; rolled back if it fails. On
    /// that thread it runs at once (blocking it: the thread is there for this); from another, it queues.
    pub(super) async fn transaction<T, F>(&self, body: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(Session<'_>) -> StoreResult<T> + Send + 'static,
    {
        if self.on_thread() {
            return in_place(body);
        }
        let (answer, answered) = oneshot::channel();
        let job: Job = Box::new(move |owner| {
            // The caller may have gone away; the commit stands either way.
            let _ = answer.send(owner.transaction(body));
        });
        self.jobs.send(job).map_err(|_| gone())?;
        answered.await.map_err(|_| gone())?
    }

    /// [`Self::transaction`] run at once when called on the writer's thread (`body` may then borrow
    /// what its caller holds: nothing is copied for another thread); `None` anywhere else.
    pub(super) fn transaction_here<T>(
        &self,
        body: impl FnOnce(Session<'_>) -> StoreResult<T>,
    ) -> Option<StoreResult<T>> {
        self.on_thread().then(|| in_place(body))
    }

    fn on_thread(&self) -> bool {
        std::thread::current().id() == self.thread
    }
}

/// Runs `body` in a transaction on this thread, the writer's.
fn in_place<T>(body: impl FnOnce(Session<'_>) -> StoreResult<T>) -> StoreResult<T> {
    OWNER.with(|cell| match cell.borrow_mut().as_mut() {
        Some(owner) => owner.transaction(body),
        None => Err(gone()),
    })
}

fn gone() -> StoreError {
    StoreError::Unavailable {
        context: "append_shared",
        source: EngineError::Told("SQLite's writer thread ended".into()),
    }
}

/// sqlx's `sqlite://path?mode=rwc` as SQLite's own URI, `file:path?mode=rwc`.
fn file_uri(url: &str) -> String {
    let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
    format!("file:{path}")
}

/// The writer thread's connection, opened at the first transaction and again after one that lost it.
struct Owner {
    uri: String,
    conn: Option<Connection>,
}

impl Owner {
    fn transaction<T>(&mut self, body: impl FnOnce(Session<'_>) -> StoreResult<T>) -> StoreResult<T> {
        let result = self.connection().and_then(|conn| {
            control(conn, "BEGIN IMMEDIATE")?;
            // A panic (a bug) fails this transaction alone: the thread and its connection serve the next.
            let run = std::panic::AssertUnwindSafe(|| body(Session::Sqlite(conn)));
            std::panic::catch_unwind(run).unwrap_or_else(|_| Err(StoreError::Corrupt("a transaction panicked".into())))
        });
        let left_open = self.conn.as_ref().is_some_and(|conn| !conn.is_autocommit());
        let result = match result {
            Ok(_) if left_open => Err(StoreError::Corrupt("a transaction ended without its commit".into())),
            other => other,
        };
        if let Err(err) = &result {
            self.after_failure(err);
        }
        result
    }

    fn connection(&mut self) -> StoreResult<&mut Connection> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => {
                let conn = Connection::open(&self.uri)?;
                conn.execute_batch(SQLITE_PRAGMAS)?;
                conn.set_prepared_statement_cache_capacity(PREPARED);
                conn
            }
        };
        Ok(self.conn.insert(conn))
    }

    /// Rolls back what a failed transaction left open. The connection is dropped (the next transaction
    /// opens another) if it cannot, or if the engine itself failed (I/O, a full disk), not the statement.
    fn after_failure(&mut self, err: &StoreError) {
        let Some(conn) = &self.conn else { return };
        let ended = conn.is_autocommit() || control(conn, "ROLLBACK").is_ok();
        if !ended || matches!(err, StoreError::Unavailable { .. }) {
            self.conn = None;
        }
    }
}

/// Runs a transaction's `BEGIN`, `COMMIT` or `ROLLBACK`, kept prepared like the statements between them
/// (parsed again at every commit, they cost as much as a short statement).
pub(super) fn control(conn: &Connection, sql: &'static str) -> StoreResult<()> {
    conn.prepare_cached(sql)?.raw_execute()?;
    Ok(())
}

/// Runs `statements` in order on `conn`.
pub(super) fn run(conn: &Connection, statements: &[Statement]) -> StoreResult<Vec<Done>> {
    statements.iter().map(|statement| run_one(conn, statement)).collect()
}

fn run_one(conn: &Connection, statement: &Statement) -> StoreResult<Done> {
    let mut prepared = conn.prepare_cached(&statement.sql)?;
    for (at, bind) in statement.binds.iter().enumerate() {
        // By name: SQLite numbers `$n` parameters in the order they first appear in the text, not by n.
        if let Some(index) = prepared.parameter_index(&format!("${}", at + 1))? {
            prepared.raw_bind_parameter(index, bind)?;
        }
    }
    let names: Arc<[String]> = prepared.column_names().into_iter().map(str::to_owned).collect();
    let writes = !prepared.readonly();
    let mut rows = Vec::new();
    let mut stepping = prepared.raw_query();
    while let Some(row) = stepping.next()? {
        let values = (0..names.len()).map(|i| row.get::<_, Value>(i)).collect::<Result<_, _>>()?;
        rows.push(Row::Sqlite(SqliteRow { names: names.clone(), values }));
    }
    drop(stepping);
    Ok(Done { rows, affected: if writes { conn.changes() } else { 0 } })
}

impl rusqlite::ToSql for Bind {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Self::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
            Self::Int(int) => ToSqlOutput::Owned(Value::Integer(*int)),
            Self::Null => ToSqlOutput::Owned(Value::Null),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{at_once, Session};
    use crate::store::row::Columns;
    use crate::store::statement::{Bind, Run, Statement};
    use crate::store::{Store, StoreError};

    /// The rows of `probe`, read in a transaction of the writer's.
    async fn probed(store: &Store) -> anyhow::Result<Vec<(i64, Option<String>)>> {
        let writer = store.writer.as_ref().ok_or_else(|| anyhow::anyhow!("no writer"))?;
        let read = Statement::new("SELECT x, note FROM probe ORDER BY x", vec![]);
        let done = writer.transaction(move |session| at_once(session.commit(&[read]))).await?;
        Ok(done[0]
            .rows
            .iter()
            .map(|row| Ok((row.int("x")?, row.opt_text("note")?)))
            .collect::<Result<_, StoreError>>()?)
    }

    #[tokio::test]
    async fn commits_run_whole_on_the_writer_thread_and_a_failed_one_leaves_nothing_behind() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("sb_writer_{}.db", uuid::Uuid::new_v4().simple()));
        let store = Store::connect(&format!("sqlite://{}", path.display()), 2).await?;
        let writer = store.writer.clone().ok_or_else(|| anyhow::anyhow!("no writer"))?;
        let create = Statement::new("CREATE TABLE probe (x INTEGER NOT NULL, note TEXT)", vec![]);
        writer.transaction(move |session| at_once(session.commit(&[create]))).await?;

        // Its connection has every pragma the pool's have: WAL, and an fsync at every commit (FULL = 2).
        let pragmas = [Statement::new("PRAGMA journal_mode", vec![]), Statement::new("PRAGMA synchronous", vec![])];
        let done = writer.transaction(move |session| at_once(session.commit(&pragmas))).await?;
        assert_eq!(done[0].rows[0].text("journal_mode")?, "wal");
        assert_eq!(done[1].rows[0].int("synchronous")?, 2);

        // Parameters bound by their number, wherever they first appear in the text.
        let insert = |x: i64, note: Option<&str>| {
            let binds = vec![Bind::from(note.map(str::to_owned)), Bind::Int(x)];
            Statement::new("INSERT INTO probe (x, note) VALUES ($2, $1)", binds)
        };
        let both = [insert(1, Some("one")), insert(2, None)];
        let done = writer.transaction(move |session| at_once(session.commit(&both))).await?;
        assert_eq!(done.iter().map(|d| d.affected).collect::<Vec<_>>(), [1, 1]);
        assert_eq!(probed(&store).await?, [(1, Some("one".to_owned())), (2, None)]);

        // A transaction that fails after writing is rolled back, and the next one runs.
        let three = insert(3, None);
        let failed = writer
            .transaction(move |mut session: Session<'_>| {
                at_once(session.run(std::slice::from_ref(&three)))?;
                Err::<(), _>(StoreError::Corrupt("given up".into()))
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Corrupt(_))), "{failed:?}");
        assert_eq!(probed(&store).await?.len(), 2);

        // A statement the engine refuses fails its transaction alone and releases the write lock at once:
        // a pooled connection writes right after it.
        let refused = [insert(4, None), Statement::new("INSERT INTO probe (x) VALUES (NULL)", vec![])];
        let failed = writer.transaction(move |session| at_once(session.commit(&refused))).await;
        assert!(matches!(failed, Err(StoreError::Database { .. })), "{:?}", failed.err());
        sqlx::query("INSERT INTO probe (x) VALUES (5)").execute(store.pool()).await?;
        assert_eq!(probed(&store).await?.iter().map(|(x, _)| *x).collect::<Vec<_>>(), [1, 2, 5]);

        // A body that panics, or forgets to commit, fails alone: rolled back, and the thread serves on.
        let panicked = writer.transaction(|_| -> Result<(), StoreError> { panic!("a bug in a commit") }).await;
        assert!(matches!(panicked, Err(StoreError::Corrupt(_))), "{panicked:?}");
        let six = insert(6, None);
        let forgot = writer.transaction(move |mut session: Session<'_>| at_once(session.run(&[six])).map(drop)).await;
        assert!(matches!(forgot, Err(StoreError::Corrupt(_))), "{forgot:?}");
        assert_eq!(probed(&store).await?.len(), 3);
        Ok(())
    }

    /// Asked from another thread a transaction is queued to the writer's; asked on it (the commit lane
    /// runs there) it runs at once, in place.
    #[tokio::test]
    async fn transactions_run_on_the_writer_thread_and_at_once_when_asked_there() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("sb_writer_{}.db", uuid::Uuid::new_v4().simple()));
        let store = Store::connect(&format!("sqlite://{}", path.display()), 2).await?;
        let writer = store.writer.clone().ok_or_else(|| anyhow::anyhow!("no writer"))?;
        let thread = || Ok(std::thread::current().name().map(str::to_owned));
        let commit = |session: Session<'_>| at_once(session.commit(&[])).map(drop);
        let queued = writer.transaction(move |session| commit(session).and_then(|()| thread())).await?;
        assert_eq!(queued.as_deref(), Some("sqlite-writer"));
        assert!(writer.transaction_here(commit).is_none(), "this test's thread is not the writer's");

        let (answer, answered) = tokio::sync::oneshot::channel();
        let on_writer = writer.clone();
        let spawned = store.spawn_on_writer(async move {
            let here = on_writer.transaction_here(|session| commit(session).and_then(|()| thread()));
            let _ = answer.send(here.map(|result| result.ok().flatten()));
        });
        assert!(spawned.is_ok(), "SQLite has a writer thread");
        assert_eq!(answered.await?, Some(Some("sqlite-writer".to_owned())));
        Ok(())
    }
}
