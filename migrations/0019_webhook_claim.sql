-- The claim finds the first pending delivery of each (endpoint, conversation) by skipping through
-- webhook_deliveries_heads from one conversation to the next, instead of checking every pending row for an
-- earlier one (which cost the square of a conversation's backlog). License-wide events (position 0) have no
-- order between them: the claim takes the due ones straight from webhook_deliveries_unordered.
DROP INDEX webhook_deliveries_due;
DROP INDEX webhook_deliveries_order;
CREATE INDEX webhook_deliveries_heads ON webhook_deliveries (endpoint_id, ordering_key, position)
    WHERE status = 'pending' AND position > 0;
CREATE INDEX webhook_deliveries_unordered ON webhook_deliveries (next_attempt_at)
    WHERE status = 'pending' AND position = 0;
