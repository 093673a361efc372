-- Customer satisfaction: the visitor's 1–5 rating of a closed conversation, asked once.
ALTER TABLE conversations ADD COLUMN csat_rating BIGINT;
ALTER TABLE conversations ADD COLUMN csat_comment TEXT;
ALTER TABLE conversations ADD COLUMN csat_at BIGINT;
CREATE INDEX conversations_by_csat ON conversations (license_key, csat_at);
