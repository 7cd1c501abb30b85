-- An invoice's events come from two topics (invoicing.events and payments.events), read by two
-- consumers that may be ahead of each other, so the order in which their deliveries are queued
-- (the id) says nothing about the order in which the events happened. Each delivery now says
-- which topic it came from and when its event occurred. A delivery goes once:
--   * the earlier deliveries of its webhook, resource and topic are DELIVERED or FAILED;
--   * the notifier has read the partner topic (`after_topic`, the partition of the resource)
--     up to `after_offset`, where it ended when the delivery was read (NULL: nothing to wait
--     for), so that what was published there before is queued too;
--   * the first unfinished delivery of each other topic of the webhook and resource occurred
--     later (`occurred_at`, then id).
ALTER TABLE webhook_deliveries
    ADD COLUMN topic           text,
    ADD COLUMN occurred_at     timestamptz,
    ADD COLUMN after_topic     text,
    ADD COLUMN after_partition integer,
    ADD COLUMN after_offset    bigint;
UPDATE webhook_deliveries SET
    topic = CASE
        WHEN event_type LIKE 'payment.%' THEN 'payments.events'
        WHEN event_type LIKE 'usage.%' THEN 'usage.alerts'
        ELSE 'invoicing.events'
    END,
    occurred_at = created_at;
ALTER TABLE webhook_deliveries
    ALTER COLUMN topic SET NOT NULL,
    ALTER COLUMN occurred_at SET NOT NULL;
DROP INDEX webhook_deliveries_chain;
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (webhook_id, resource, topic, id)
    WHERE state IN ('PENDING', 'SENDING');

-- How far the webhook consumers have read each topic: the next offset of each partition,
-- written in the transaction that queues the deliveries of the records below it (and after a
-- record is dead-lettered), so a delivery waiting for `after_offset` sees the rows it waits for.
CREATE TABLE webhook_topic_progress (
    topic            text    NOT NULL,
    kafka_partition  integer NOT NULL,
    next_offset      bigint  NOT NULL,
    PRIMARY KEY (topic, kafka_partition)
);
