-- Lead capture: the widget's pre-chat or offline form, stored on the conversation (the contact's
-- conversation is where agents see it). `lead` is the validated JSON; `lead_at` when it was last sent.
ALTER TABLE conversations ADD COLUMN lead TEXT;
ALTER TABLE conversations ADD COLUMN lead_at BIGINT;
