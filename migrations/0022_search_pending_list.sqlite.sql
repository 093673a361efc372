-- PostgreSQL only (its search index's pending list, see 0022_search_pending_list.postgres.sql): SQLite's FTS5
-- index merges its segments incrementally after each transaction (automerge), so nothing changes here.
SELECT 1;
