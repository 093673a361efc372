-- SQLite's full-text index takes new messages in batches instead of in each message's own commit: indexing
-- one message wrote five of the fourteen pages a single-message commit put in the WAL (a new FTS5 segment
-- each time). A message now only notes its rowid in `search_pending` (one page); the store indexes what is
-- pending once a second, and before every search, so a search still sees every message. Messages stored before
-- this migration were indexed by the trigger it replaces.
CREATE TABLE search_pending (message_rowid INTEGER PRIMARY KEY);
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_search_pending AFTER INSERT ON messages BEGIN
    INSERT INTO search_pending (message_rowid) VALUES (new.rowid);
END;
-- A message still pending was never indexed: there is nothing to take out of the index, only the note.
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) SELECT 'delete', old.rowid, old.body
        WHERE NOT EXISTS (SELECT 1 FROM search_pending WHERE message_rowid = old.rowid);
    DELETE FROM search_pending WHERE message_rowid = old.rowid;
END;
-- A pending message is indexed with whatever body it has by then.
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages
    WHEN NOT EXISTS (SELECT 1 FROM search_pending WHERE message_rowid = old.rowid) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.rowid, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.rowid, new.body);
END;
