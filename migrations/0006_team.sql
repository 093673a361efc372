-- Teams: several members per license with roles, invitations, assignment, labels and canned answers.

-- 'agent' was the only non-owner role before roles were split into admin/manager/member/viewer.
UPDATE users SET role = 'member' WHERE role = 'agent';
ALTER TABLE users ADD COLUMN name TEXT;
ALTER TABLE users ADD COLUMN deactivated_at BIGINT;                    -- set once deactivated
ALTER TABLE users ADD COLUMN availability TEXT NOT NULL DEFAULT 'online'; -- the status the member chose
ALTER TABLE users ADD COLUMN max_open BIGINT;                          -- open conversations auto-assignment gives them
ALTER TABLE users ADD COLUMN last_seen_at BIGINT;
CREATE INDEX users_by_license ON users (license_key);

-- Single-use invitations; only the SHA-256 of the token is kept.
CREATE TABLE invitations (
    id          TEXT PRIMARY KEY,
    license_key TEXT NOT NULL REFERENCES licenses (license_key),
    email       TEXT NOT NULL,
    role        TEXT NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    invited_by  TEXT NOT NULL REFERENCES users (id),
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_at BIGINT,
    revoked_at  BIGINT
);
CREATE INDEX invitations_by_license ON invitations (license_key, created_at);

-- Who answers a conversation; NULL is unassigned.
ALTER TABLE conversations ADD COLUMN assignee_id TEXT REFERENCES users (id);
CREATE INDEX conversations_by_assignee ON conversations (license_key, assignee_id);

CREATE TABLE labels (
    license_key TEXT NOT NULL REFERENCES licenses (license_key),
    name        TEXT NOT NULL,
    color       TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (license_key, name)
);

CREATE TABLE conversation_labels (
    license_key     TEXT NOT NULL,
    conversation_id TEXT NOT NULL REFERENCES conversations (id),
    label           TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (conversation_id, label),
    FOREIGN KEY (license_key, label) REFERENCES labels (license_key, name) ON DELETE CASCADE
);
CREATE INDEX conversation_labels_by_label ON conversation_labels (license_key, label);

CREATE TABLE canned_answers (
    id          TEXT PRIMARY KEY,
    license_key TEXT NOT NULL REFERENCES licenses (license_key),
    short_code  TEXT NOT NULL,
    content     TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (license_key, short_code)
);
