-- Messenger pages and WhatsApp numbers that tenants connect, and outbound delivery bookkeeping.

CREATE TABLE integrations (
    id          TEXT PRIMARY KEY,
    license_key TEXT NOT NULL REFERENCES licenses (license_key),
    provider    TEXT NOT NULL,            -- messenger | whatsapp
    account_id  TEXT NOT NULL,            -- Facebook page id, or WhatsApp number in E.164
    status      TEXT NOT NULL DEFAULT 'connected',
    created_at  BIGINT NOT NULL,
    -- A page or number belongs to one license: a second claim is refused.
    UNIQUE (provider, account_id)
);
CREATE INDEX integrations_by_license ON integrations (license_key);

-- The provider's id for an outbound message (Messenger mid, Twilio SID), for status callbacks.
ALTER TABLE messages ADD COLUMN provider_msg_id TEXT;
CREATE INDEX messages_by_provider_id ON messages (provider_msg_id);

-- Every attempt to hand an outbound message to its provider.
CREATE TABLE delivery_attempts (
    id          TEXT PRIMARY KEY,
    message_id  TEXT NOT NULL REFERENCES messages (id),
    license_key TEXT NOT NULL,
    attempt     BIGINT NOT NULL,
    status_code BIGINT,                   -- HTTP status, NULL on timeout or connection error
    error       TEXT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX delivery_attempts_by_message ON delivery_attempts (message_id);

-- One conversation per channel contact (a closed one is reopened), so concurrent webhooks for a new
-- contact cannot start two.
CREATE UNIQUE INDEX conversations_one_per_contact ON conversations (license_key, channel, contact_id)
    WHERE channel <> 'widget';
