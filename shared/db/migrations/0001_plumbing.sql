-- Plumbing every service schema has: the transactional outbox and the processed-events table.

-- Events to publish, written in the same transaction as the state change they announce.
-- The relay publishes them in id order and deletes them once Kafka acknowledged them.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    topic       text        NOT NULL,
    key         text,
    payload     bytea       NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Wakes the relay as soon as a transaction with events commits.
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_TABLE_SCHEMA || '_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox
    FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- Every event a consumer has applied: a redelivered event is recognised and skipped.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
