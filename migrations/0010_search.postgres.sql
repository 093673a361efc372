-- Full-text search over message bodies: a GIN index on their 'simple' text-search vectors.
CREATE INDEX messages_fts ON messages USING GIN (to_tsvector('simple', body));
