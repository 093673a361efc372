-- The tenant integration surface: the audit trail, API keys for tenants' backends, and daily usage.

-- Append-only: the server only ever INSERTs here (no API updates or deletes a row). license_key is NULL
-- for events that belong to no tenant (a failed login for an unknown address, a deployment-wide event).
CREATE TABLE audit_logs (
    id          TEXT PRIMARY KEY,
    license_key TEXT,
    actor_kind  TEXT NOT NULL,            -- user | api_key | admin | system
    actor_id    TEXT,                     -- user id, API key id, admin channel (admin_api, cli)
    action      TEXT NOT NULL,            -- e.g. login.succeeded, api_key.created
    target      TEXT,                     -- what the action was about (a key, an integration id, …)
    ip          TEXT,
    user_agent  TEXT,
    metadata    TEXT NOT NULL DEFAULT '{}',
    created_at  BIGINT NOT NULL
);
CREATE INDEX audit_logs_by_license ON audit_logs (license_key, created_at, id);
CREATE INDEX audit_logs_by_time ON audit_logs (created_at, id);

-- Secrets are never stored: only their SHA-256 (hex) and a short prefix to recognise them by.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY,
    license_key  TEXT NOT NULL REFERENCES licenses (license_key),
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    secret_hash  TEXT NOT NULL UNIQUE,
    scopes       TEXT NOT NULL,           -- comma-separated scope names
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_by_license ON api_keys (license_key, created_at);

-- Authenticated API calls per license per UTC day, flushed from the live counters for history.
CREATE TABLE usage_daily (
    license_key TEXT NOT NULL,
    day         TEXT NOT NULL,            -- yyyy-mm-dd (UTC)
    calls       BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (license_key, day)
);
