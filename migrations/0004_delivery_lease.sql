-- Outbound messages left "pending" by a node that stopped mid-retry are picked up again by any node.
-- A node claims one by setting delivery_lease (epoch ms) in a conditional UPDATE, so only one node resends it.
ALTER TABLE messages ADD COLUMN delivery_lease BIGINT;
CREATE INDEX messages_pending_delivery ON messages (created_at) WHERE delivery = 'pending';
