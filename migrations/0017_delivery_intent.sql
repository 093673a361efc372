-- Outbound delivery intents: an attempt row is written *before* the provider call (outcome 'in_flight')
-- and completed after it (sent, retry, failed, unknown). A node that resumes a delivery and finds an
-- attempt still in flight knows the provider may have the message, and does not send it again.
ALTER TABLE delivery_attempts ADD COLUMN outcome TEXT;
ALTER TABLE delivery_attempts ADD COLUMN finished_at BIGINT;
