-- A conversation's recency (`updated_at`, which every stored message moves) in a narrow table of its own.
-- While the recency index sat on `conversations`, each message's numbering UPDATE changed an indexed column, so
-- PostgreSQL could not update the row in place (HOT) and wrote a new entry into every one of the
-- conversation's nine indexes, per conversation per commit. Now that UPDATE changes no indexed column, and the
-- recency moves here, in a row with two indexes, kept in step by a trigger (a statement in every writer of
-- `updated_at` would be easy to forget in one). The inbox and retention read their order from here.
CREATE TABLE conversation_recency (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    license_key TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
INSERT INTO conversation_recency (conversation_id, license_key, updated_at)
    SELECT id, license_key, updated_at FROM conversations;
CREATE INDEX conversation_recency_by_license ON conversation_recency (license_key, updated_at, conversation_id);
DROP INDEX conversations_by_recency;

CREATE FUNCTION conversation_recency_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO conversation_recency (conversation_id, license_key, updated_at)
            VALUES (NEW.id, NEW.license_key, NEW.updated_at);
    ELSIF NEW.updated_at IS DISTINCT FROM OLD.updated_at THEN
        UPDATE conversation_recency SET updated_at = NEW.updated_at WHERE conversation_id = NEW.id;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER conversation_recency_follows AFTER INSERT OR UPDATE OF updated_at ON conversations
    FOR EACH ROW EXECUTE FUNCTION conversation_recency_follow();
