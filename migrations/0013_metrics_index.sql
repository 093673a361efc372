-- The live numbers stay independent of history: today's first responses read the conversations started
-- today, and the open count reads only open conversations.
CREATE INDEX conversations_by_start ON conversations (license_key, created_at);
CREATE INDEX conversations_open ON conversations (license_key) WHERE status = 'open';
