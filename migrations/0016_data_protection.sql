-- Data protection: a license's retention period (messages, and conversations idle for longer, are deleted
-- by the retention job), and the indexes erasure and retention delete through.
CREATE TABLE data_retention (
    license_key TEXT PRIMARY KEY REFERENCES licenses (license_key),
    days        BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
-- One contact's conversations whatever the channel (erasure, export).
CREATE INDEX conversations_by_contact_id ON conversations (license_key, contact_id);
-- A conversation's webhook events (deleted with it), and a license's old events (retention).
CREATE INDEX webhook_events_by_conversation ON webhook_events (conversation_id);
CREATE INDEX webhook_events_by_age ON webhook_events (license_key, created_at);
