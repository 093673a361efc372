//! SQLite's full-text index, filled in batches: a message's commit only notes it in `search_pending`
//! (migration 0023), and [`Store::index_search`] indexes what is pending in commits of the shared
//! writer, once a second ([`Store::index_search_every`]) and before every search. PostgreSQL's index
//! batches on its own (a GIN pending list): there both do nothing.

use super::at_once;
use crate::store::statement::{Bind, Statement};
use crate::store::{Context, Store, StoreResult};
use std::time::Duration;

/// Pending messages indexed in one commit; the message commits queued meanwhile go between two of
/// them. A second's worth in one commit held the writer, and every ack behind it, for as long as FTS5
/// takes: 36-70 ms for 10,000 messages (a second at 10k a second; Python's sqlite3, WAL, FULL sync)
/// against an ack p99 target of 50 ms. 256 take 1-2 ms.
const INDEX_CHUNK: u64 = 256;

/// Indexes the oldest `$1` pending messages (with the bodies they have now).
const INDEX_PENDING: &str = "INSERT INTO messages_fts (rowid, body)
    SELECT m.rowid, m.body FROM (SELECT message_rowid FROM search_pending ORDER BY message_rowid LIMIT $1) AS p
    JOIN messages m ON m.rowid = p.message_rowid";
/// Forgets the messages [`INDEX_PENDING`] indexed (the same rows: the commit holds the write lock).
const FORGET_INDEXED: &str = "DELETE FROM search_pending
    WHERE message_rowid IN (SELECT message_rowid FROM search_pending ORDER BY message_rowid LIMIT $1)";

impl Store {
    /// Adds the messages stored since the last time to the full-text index, in commits of
    /// [`INDEX_CHUNK`] on the shared writer (so each queues behind message commits instead of waiting
    /// for their lock, and message commits queue between them).
    pub async fn index_search(&self) -> StoreResult<()> {
        let Some(writer) = &self.writer else { return Ok(()) };
        // Looked up on the read pool: with nothing pending (an idle node, a search right after the last
        // batch) the shared writer is not taken for an empty transaction.
        let pending: Option<i64> = sqlx::query_scalar("SELECT message_rowid FROM search_pending LIMIT 1")
            .fetch_optional(self.pool())
            .await
            .context("index_search")?;
        if pending.is_none() {
            return Ok(());
        }
        let statements =
            [INDEX_PENDING, FORGET_INDEXED].map(|sql| Statement::new(sql, vec![Bind::Int(INDEX_CHUNK as i64)]));
        loop {
            let statements = statements.clone();
            let done = writer.transaction(move |session| at_once(session.commit(&statements))).await;
            let done = done.context("index_search")?;
            if done.last().map_or(0, |forgotten| forgotten.affected) < INDEX_CHUNK {
                return Ok(());
            }
        }
    }

    /// Runs [`Self::index_search`] every `period`, for as long as the process runs.
    pub fn index_search_every(&self, period: Duration) {
        if self.postgres {
            return;
        }
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                if let Err(err) = store.index_search().await {
                    tracing::warn!(%err, "could not index new messages for search");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;

    async fn count(store: &Store, sql: &str) -> anyhow::Result<i64> {
        Ok(sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(store.pool()).await?)
    }

    /// Messages wait in `search_pending` until indexed; deleting or editing one, pending or indexed,
    /// keeps the index whole (FTS5's integrity check), and the index finds exactly what the table holds.
    #[tokio::test]
    async fn pending_messages_are_indexed_in_batches_and_the_index_stays_whole() -> anyhow::Result<()> {
        let path = std::env::temp_dir().join(format!("sb_search_{}.db", uuid::Uuid::new_v4().simple()));
        let store = Store::connect(&format!("sqlite://{}", path.display()), 2).await?;
        store.migrate().await?;
        let pool = store.pool();
        sqlx::query("INSERT INTO licenses (license_key, email, products, tier, status, created_at) VALUES ('INTL-SRCH-SRCH-SRCH', 'a@b.c', '[]', 'pro', 'active', 0)").execute(pool).await?;
        sqlx::query("INSERT INTO conversations (id, license_key, channel, contact_id, created_at, updated_at) VALUES ('c1', 'INTL-SRCH-SRCH-SRCH', 'widget', 'v1', 0, 0)").execute(pool).await?;
        let insert = |seq: i64, body: &'static str| {
            sqlx::query("INSERT INTO messages (id, conversation_id, license_key, seq, sender, kind, body, created_at) VALUES ($1, 'c1', 'INTL-SRCH-SRCH-SRCH', $2, 'visitor', 'text', $3, 0)")
                .bind(format!("m{seq}")).bind(seq).bind(body).execute(pool)
        };
        insert(1, "refund please").await?;
        insert(2, "where is my parcel").await?;
        assert_eq!(count(&store, "SELECT COUNT(*) FROM search_pending").await?, 2);
        let refund = "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'refund'";
        assert_eq!(count(&store, refund).await?, 0, "not indexed yet");
        store.index_search().await?;
        assert_eq!(count(&store, "SELECT COUNT(*) FROM search_pending").await?, 0);
        assert_eq!(count(&store, refund).await?, 1);

        // Pending and indexed messages deleted or edited.
        insert(3, "refund again").await?;
        insert(4, "another refund").await?;
        sqlx::query("DELETE FROM messages WHERE id IN ('m1', 'm3')").execute(pool).await?;
        sqlx::query("UPDATE messages SET body = 'refund for the parcel' WHERE id IN ('m2', 'm4')")
            .execute(pool)
            .await?;
        store.index_search().await?;
        assert_eq!(count(&store, refund).await?, 2, "m2 and m4, with their new bodies");
        assert_eq!(count(&store, "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'another'").await?, 0);
        sqlx::query("INSERT INTO messages_fts (messages_fts, rank) VALUES ('integrity-check', 1)")
            .execute(pool)
            .await?;

        // More than a commit's worth: indexed over several commits, every one of them.
        let many = 2 * super::INDEX_CHUNK as i64 + 7;
        for seq in 10..10 + many {
            insert(seq, "bulk parcel").await?;
        }
        store.index_search().await?;
        assert_eq!(count(&store, "SELECT COUNT(*) FROM search_pending").await?, 0);
        let bulk = "SELECT COUNT(*) FROM messages_fts WHERE messages_fts MATCH 'bulk'";
        assert_eq!(count(&store, bulk).await?, many);
        Ok(())
    }
}
