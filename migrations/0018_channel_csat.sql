-- The provider message id of the Messenger/WhatsApp reply that carried a conversation's rating: a
-- provider redelivering that reply is recognised and neither rates again nor becomes a message.
ALTER TABLE conversations ADD COLUMN csat_source TEXT;
