-- Business hours per license (JSON, validated by the server), and the day a conversation last got the
-- out-of-hours auto-reply (once per conversation per local day, whichever node stores the message).
CREATE TABLE business_hours (
    license_key TEXT PRIMARY KEY REFERENCES licenses (license_key),
    config      TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
ALTER TABLE conversations ADD COLUMN auto_replied_on TEXT;
