-- Account security: a policy per license, TOTP second factors and their single-use recovery codes.

-- One row per license that changed the defaults (no second factor required, the server's token TTL,
-- passwords of 8+ characters, any address). Booleans are 0/1 integers, which both engines read alike.
CREATE TABLE security_policies (
    license_key             TEXT PRIMARY KEY REFERENCES licenses (license_key),
    require_two_factor      BIGINT NOT NULL DEFAULT 0,
    session_timeout_minutes BIGINT,                    -- NULL: JWT_TTL_SECONDS
    password_min_length     BIGINT NOT NULL DEFAULT 8,
    password_require_mixed  BIGINT NOT NULL DEFAULT 0,
    ip_allowlist            TEXT NOT NULL DEFAULT '',  -- canonical CIDRs separated by spaces; empty: any
    updated_at              BIGINT NOT NULL,
    updated_by              TEXT REFERENCES users (id)
);

-- TOTP secrets are sealed with SECRETS_KEY (bound to the user id). `totp_pending` is a secret set up
-- but not yet confirmed with a code; `totp_last_step` is the last 30-second step a code was accepted
-- for, so a code cannot be replayed, on any node.
ALTER TABLE users ADD COLUMN totp_secret TEXT;
ALTER TABLE users ADD COLUMN totp_pending TEXT;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT;

-- Only the SHA-256 of each code is kept (they are 60 random bits, so no slow hash is needed).
CREATE TABLE recovery_codes (
    license_key TEXT NOT NULL REFERENCES licenses (license_key),
    user_id     TEXT NOT NULL REFERENCES users (id),
    code_hash   TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT,
    PRIMARY KEY (user_id, code_hash)
);
