-- Webhooks (admin): where to POST which events. The secret signs every delivery; it is kept
-- here, readable by the notifier's database role only, and never returned after creation.
CREATE TABLE webhooks (
    id               text        PRIMARY KEY,
    url              text        NOT NULL,
    events           text[]      NOT NULL,
    secret           text        NOT NULL,
    state            text        NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'disabled')),
    failures_in_row  integer     NOT NULL DEFAULT 0,
    disabled_reason  text,
    disabled_at      timestamptz,
    created_by       text,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- One row per (webhook, event): the durable queue of the deliverer and the delivery log.
-- PENDING -> SENDING (leased) -> DELIVERED | FAILED (its last attempt failed). A lease that runs
-- out (a notifier killed mid-delivery) makes the row due again. `resource` is the event's topic
-- key (invoice id, alert subject): a row is not sent while an earlier row (lower id) of the same
-- webhook and resource is still PENDING or SENDING, so each resource's events arrive in order.
CREATE TABLE webhook_deliveries (
    id               bigserial   PRIMARY KEY,
    webhook_id       text        NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id         uuid        NOT NULL,
    event_type       text        NOT NULL,
    resource         text        NOT NULL,
    body             bytea       NOT NULL,
    state            text        NOT NULL DEFAULT 'PENDING'
                                 CHECK (state IN ('PENDING', 'SENDING', 'DELIVERED', 'FAILED')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_status_code integer,
    last_error       text,
    last_attempt_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
    WHERE state IN ('PENDING', 'SENDING');
CREATE INDEX webhook_deliveries_chain ON webhook_deliveries (webhook_id, resource, id)
    WHERE state IN ('PENDING', 'SENDING');
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, id DESC);

-- Every attempt of a delivery: when, the answer's status code or the error, how long it took.
CREATE TABLE webhook_attempts (
    delivery_id      bigint      NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt          integer     NOT NULL,
    at               timestamptz NOT NULL DEFAULT now(),
    status_code      integer,
    error            text,
    duration_ms      integer     NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);
