-- Only outbound channel messages have a provider id (a Messenger mid, a Twilio SID). The index kept an entry
-- for every other message too (every widget and agent message), one more b-tree page each commit had to
-- rewrite, for a lookup that never asks for NULL: it now holds the messages that have one.
DROP INDEX messages_by_provider_id;
CREATE INDEX messages_by_provider_id ON messages (provider_msg_id) WHERE provider_msg_id IS NOT NULL;
