//! A shared commit's transaction, on either engine. PostgreSQL's is a pooled transaction whose statements
//! go out one by one. SQLite's is the writer thread's connection ([`SqliteWriter`]), where the whole
//! commit runs as one job: its statements are calls into SQLite on that thread, so a commit costs the
//! caller one hand-off there and one back.

use super::sqlite_writer;
pub(crate) use super::sqlite_writer::SqliteWriter;
use crate::store::statement::{Done, Run, Statement};
use crate::store::{Context, StoreResult};
use sqlx::{Any, Transaction};

/// A shared commit's transaction.
pub(super) enum Session<'c> {
    /// PostgreSQL: a pooled transaction (rolled back if dropped before [`Session::commit`]).
    Postgres(Transaction<'static, Any>),
    /// SQLite: the writer thread's connection, in the transaction [`SqliteWriter::transaction`] began.
    Sqlite(&'c mut rusqlite::Connection),
}

impl Run for Session<'_> {
    async fn run(&mut self, statements: &[Statement]) -> StoreResult<Vec<Done>> {
        match self {
            Self::Postgres(tx) => (**tx).run(statements).await,
            Self::Sqlite(conn) => sqlite_writer::run(conn, statements),
        }
    }
}

impl Session<'_> {
    /// Runs `statements`, then commits; returns what they did.
    pub(super) async fn commit(mut self, statements: &[Statement]) -> StoreResult<Vec<Done>> {
        let done = self.run(statements).await?;
        match self {
            Self::Postgres(tx) => tx.commit().await.context("append_shared")?,
            Self::Sqlite(conn) => conn.execute_batch("COMMIT")?,
        }
        Ok(done)
    }
}
