-- A conversation's recency, read by the inbox and retention. On PostgreSQL it is a table of its own (see
-- 0021_conversation_recency.postgres.sql: there an indexed column changed by every message costs an entry in
-- every index of the row). SQLite updates only the indexes whose columns change, so here it stays on
-- `conversations`, with its index, and this view gives it the same name.
CREATE VIEW conversation_recency AS SELECT id AS conversation_id, license_key, updated_at FROM conversations;
