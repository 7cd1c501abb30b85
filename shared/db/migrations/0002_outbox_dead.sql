-- An outbox row Kafka refuses for good (too large for any message): moved here with the reason
-- instead of blocking every event behind it. Counted in billport_outbox_dead_total; nothing is
-- dropped without a trace.
CREATE TABLE outbox_dead (
    id          bigint      PRIMARY KEY,
    topic       text        NOT NULL,
    key         text,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    reason      text        NOT NULL,
    failed_at   timestamptz NOT NULL DEFAULT now()
);
