//! A shared commit's transaction, on either engine. PostgreSQL's is a pooled transaction whose statements
//! go out one by one. SQLite's is the connection of the writer's thread ([`super::SqliteWriter`]), where
//! the whole commit runs: its statements are plain calls into SQLite there.

use super::sqlite_writer;
use crate::store::statement::{Done, Run, Statement};
use crate::store::{Context, StoreResult};
use sqlx::{Any, Transaction};

/// A shared commit's transaction.
pub(super) enum Session<'c> {
    /// PostgreSQL: a pooled transaction (rolled back if dropped before [`Session::commit`]).
    Postgres(Transaction<'static, Any>),
    /// SQLite: the writer thread's connection, in the transaction [`super::SqliteWriter::transaction`] began.
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
            Self::Sqlite(conn) => sqlite_writer::control(conn, "COMMIT")?,
        }
        Ok(done)
    }
}
