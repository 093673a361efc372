-- SQLite only (see 0023_search_batches.sqlite.sql): PostgreSQL's search index already takes new messages into a
-- pending list that it merges in batches (0022_search_pending_list.postgres.sql), so nothing changes here.
SELECT 1;
