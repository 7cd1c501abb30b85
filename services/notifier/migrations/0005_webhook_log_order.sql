-- The delivery log lists deliveries newest first by when their events occurred, the order in
-- which they go out. The id says only when a delivery was queued, and a consumer of one topic
-- may queue an event before the other topic's consumer queues an earlier one.
DROP INDEX webhook_deliveries_log;
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, occurred_at DESC, id DESC);
