-- Live chat: widget configuration, conversations across channels, and their messages.

CREATE TABLE widget_configs (
    license_key TEXT PRIMARY KEY REFERENCES licenses (license_key),
    config      TEXT NOT NULL,            -- JSON, validated by the server
    updated_at  BIGINT NOT NULL
);

CREATE TABLE conversations (
    id               TEXT PRIMARY KEY,
    license_key      TEXT NOT NULL REFERENCES licenses (license_key),
    channel          TEXT NOT NULL,       -- widget | messenger | whatsapp
    contact_id       TEXT NOT NULL,       -- widget visitor id, Messenger PSID or WhatsApp number
    visitor_token    TEXT,                -- widget only: the secret that resumes the conversation
    status           TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    metadata         TEXT NOT NULL DEFAULT '{}',
    last_seq         BIGINT NOT NULL DEFAULT 0,  -- the store assigns each message the next number
    agent_read_seq   BIGINT NOT NULL DEFAULT 0,
    visitor_read_seq BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL
);
CREATE INDEX conversations_by_recency ON conversations (license_key, updated_at, id);
CREATE UNIQUE INDEX conversations_by_visitor ON conversations (license_key, visitor_token)
    WHERE visitor_token IS NOT NULL;
CREATE INDEX conversations_by_contact ON conversations (license_key, channel, contact_id);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    license_key     TEXT NOT NULL,
    seq             BIGINT NOT NULL,
    sender          TEXT NOT NULL,        -- visitor | agent | system
    kind            TEXT NOT NULL,        -- text | postback | attachment
    body            TEXT NOT NULL,
    client_msg_id   TEXT,
    author_id       TEXT,                 -- the agent's user id
    delivery        TEXT,                 -- pending | sent | delivered | failed, for outbound channel messages
    created_at      BIGINT NOT NULL,
    UNIQUE (conversation_id, seq)
);
-- Resending a client id (or a provider's message id) never stores a second copy.
CREATE UNIQUE INDEX messages_by_client_id ON messages (conversation_id, sender, client_msg_id)
    WHERE client_msg_id IS NOT NULL;
-- "Messages today" per license, for live metrics.
CREATE INDEX messages_by_license_time ON messages (license_key, created_at);
