-- Every request to e-mail an invoice (or a reminder), and what became of it.
CREATE TABLE send_requests (
    request_id    text        PRIMARY KEY,
    invoice_id    text        NOT NULL REFERENCES invoices (invoice_id),
    purpose       text        NOT NULL CHECK (purpose IN ('invoice', 'reminder')),
    to_whom       text        NOT NULL CHECK (to_whom IN ('customer', 'finance')),
    recipients    text[]      NOT NULL,
    requested_by  text        NOT NULL,
    requested_at  timestamptz NOT NULL DEFAULT now(),
    state         text        NOT NULL DEFAULT 'REQUESTED'
                              CHECK (state IN ('REQUESTED', 'SENT', 'FAILED')),
    message_id    text,
    error         text,
    finished_at   timestamptz
);
CREATE INDEX send_requests_invoice ON send_requests (invoice_id, requested_at);

-- Reminders of overdue invoices: at most one per invoice per interval.
ALTER TABLE invoices ADD COLUMN last_reminded_at timestamptz;
CREATE INDEX invoices_overdue ON invoices (payable_on) WHERE balance > 0;
