-- The search index takes new messages into its pending list (a GIN "fast update") and merges that list into
-- the index when it outgrows `gin_pending_list_limit`: the insert that crosses it does the merge, inside its
-- commit. With the server's default (4 MB) that merge was one long stall every few seconds at 10,000 widget
-- messages a second, and every ack queued behind it (issue 14: ack p99 107–159 ms in five runs; with this
-- limit 59–96 ms, the same as with no search index at all, and PostgreSQL's CPU unchanged). Merging 256 kB
-- at a time spreads the same work into short steps. Searches read the pending list linearly, so it staying
-- short helps them too.
ALTER INDEX messages_fts SET (gin_pending_list_limit = 256);
