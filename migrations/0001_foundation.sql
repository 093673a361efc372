-- Tenants, their users, dashboard sessions and product keys. Times are epoch milliseconds.
CREATE TABLE licenses (
    license_key TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    products    TEXT NOT NULL,           -- comma-separated product names
    tier        TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    license_key   TEXT NOT NULL REFERENCES licenses (license_key),
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
-- One owner per license: a second registration with the same key is refused.
CREATE UNIQUE INDEX users_one_owner_per_license ON users (license_key) WHERE role = 'owner';

CREATE TABLE sessions (
    jti         TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users (id),
    license_key TEXT NOT NULL REFERENCES licenses (license_key),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
CREATE INDEX sessions_by_license ON sessions (license_key);

CREATE TABLE product_keys (
    product_key TEXT PRIMARY KEY,
    license_key TEXT NOT NULL REFERENCES licenses (license_key),
    product     TEXT NOT NULL,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);
-- One active key per product and license; revoked keys stay for the record.
CREATE UNIQUE INDEX product_keys_one_active ON product_keys (license_key, product) WHERE status = 'active';
