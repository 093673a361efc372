-- A Messenger page may carry its own access token, sealed with SECRETS_KEY (see channels/token_box.rs).
ALTER TABLE integrations ADD COLUMN access_token_sealed TEXT;
