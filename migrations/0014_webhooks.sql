-- Outgoing tenant webhooks (a transactional outbox). An event row is written in the same transaction as the
-- change that caused it, together with one delivery row per subscribed endpoint; workers on every node claim
-- due deliveries with a lease (lease_until, epoch ms), send them, and record every attempt.
CREATE TABLE webhook_endpoints (
    id                    TEXT PRIMARY KEY,
    license_key           TEXT NOT NULL REFERENCES licenses (license_key),
    url                   TEXT NOT NULL,
    description           TEXT NOT NULL DEFAULT '',
    events                TEXT NOT NULL,              -- JSON array of event names
    enabled               BIGINT NOT NULL DEFAULT 1,
    secret                TEXT NOT NULL,
    previous_secret       TEXT,                       -- still signed with until previous_secret_until
    previous_secret_until BIGINT,
    failure_streak        BIGINT NOT NULL DEFAULT 0,  -- failed attempts since the last success
    failing_since         BIGINT,
    disabled_reason       TEXT,
    created_at            BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_license ON webhook_endpoints (license_key);

CREATE TABLE webhook_events (
    id              TEXT PRIMARY KEY,                 -- evt_…: the receiver's deduplication key
    license_key     TEXT NOT NULL,
    event           TEXT NOT NULL,
    conversation_id TEXT,
    payload         TEXT NOT NULL,                    -- the body, fixed when the change committed
    created_at      BIGINT NOT NULL
);

CREATE TABLE webhook_deliveries (
    id                 TEXT PRIMARY KEY,
    event_id           TEXT NOT NULL REFERENCES webhook_events (id),
    endpoint_id        TEXT NOT NULL,
    license_key        TEXT NOT NULL,
    ordering_key       TEXT NOT NULL,                 -- the conversation; the event itself outside one
    position           BIGINT NOT NULL,               -- order within ordering_key (conversations.webhook_seq)
    status             TEXT NOT NULL,                 -- pending | succeeded | failed
    attempts           BIGINT NOT NULL DEFAULT 0,
    next_attempt_at    BIGINT NOT NULL,
    retry_until        BIGINT NOT NULL,
    lease_until        BIGINT NOT NULL DEFAULT 0,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    UNIQUE (event_id, endpoint_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_order ON webhook_deliveries (endpoint_id, ordering_key, position)
    WHERE status = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at, id);

CREATE TABLE webhook_attempts (
    id               TEXT PRIMARY KEY,
    delivery_id      TEXT NOT NULL,
    attempt          BIGINT NOT NULL,
    status_code      BIGINT,
    response_excerpt TEXT,
    latency_ms       BIGINT NOT NULL,
    error            TEXT,
    created_at       BIGINT NOT NULL
);
CREATE INDEX webhook_attempts_by_delivery ON webhook_attempts (delivery_id, attempt);

-- Numbers a conversation's webhook events in commit order (the row lock serialises writers).
ALTER TABLE conversations ADD COLUMN webhook_seq BIGINT NOT NULL DEFAULT 0;
