-- Rendered documents, one per distinct content (the fingerprint of what the document shows,
-- with the template version): a repeat download is a lookup.
CREATE TABLE documents (
    fingerprint  text        PRIMARY KEY,
    invoice_id   text        NOT NULL,
    revision     integer     NOT NULL,
    pdf          bytea       NOT NULL,
    rendered_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX documents_invoice ON documents (invoice_id);

-- One row per send request (idempotent by request id): the durable queue of the sender.
-- PENDING -> SENDING (leased) -> SENT | FAILED; a lease that runs out (a crash mid-send)
-- makes the row due again, and it is sent with the same Message-ID.
CREATE TABLE sends (
    request_id       text        PRIMARY KEY,
    invoice_id       text        NOT NULL,
    purpose          text        NOT NULL,
    recipients       text[]      NOT NULL,
    document         jsonb       NOT NULL,
    message_id       text        NOT NULL,
    state            text        NOT NULL DEFAULT 'PENDING'
                                 CHECK (state IN ('PENDING', 'SENDING', 'SENT', 'FAILED')),
    attempts         integer     NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    lease_until      timestamptz,
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz
);
CREATE INDEX sends_due ON sends (next_attempt_at) WHERE state IN ('PENDING', 'SENDING');
