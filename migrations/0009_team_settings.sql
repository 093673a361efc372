-- How a license's team takes new conversations.
CREATE TABLE team_settings (
    license_key           TEXT PRIMARY KEY REFERENCES licenses (license_key),
    auto_assignment       TEXT NOT NULL DEFAULT 'off',  -- off | round_robin | least_open
    waiting_after_minutes BIGINT NOT NULL DEFAULT 10,   -- an absent assignee's conversations show as waiting after this
    updated_at            BIGINT NOT NULL
);
