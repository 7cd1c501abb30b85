-- The payments service's own view of each invoice (fed by invoicing.events), the postings,
-- and a double-entry ledger: every transaction's entries sum to zero (debit +, credit -).
CREATE TABLE invoices (
    invoice_id  text          PRIMARY KEY,
    org_id      text          NOT NULL,
    kind        text          NOT NULL,
    revision    integer       NOT NULL,
    amount      numeric(14,2) NOT NULL CHECK (amount >= 0),
    paid        numeric(14,2) NOT NULL DEFAULT 0,
    updated_at  timestamptz   NOT NULL DEFAULT now(),
    -- The balance (amount - paid) is never negative: checked at every change.
    CONSTRAINT paid_within_amount CHECK (paid >= 0 AND paid <= amount)
);

CREATE TABLE payments (
    seq              bigserial     UNIQUE,  -- posting order, for reversals after a revision
    payment_id       text          PRIMARY KEY,
    invoice_id       text          NOT NULL REFERENCES invoices (invoice_id),
    org_id           text          NOT NULL,
    amount           numeric(14,2) NOT NULL CHECK (amount > 0),
    received_on      date          NOT NULL,
    method           text          NOT NULL CHECK (method IN ('ACH', 'WIRE', 'CARD', 'CHECK', 'OTHER')),
    reference        text,
    note             text,
    posted_by        text          NOT NULL,
    posted_at        timestamptz   NOT NULL DEFAULT now(),
    client_addr      text,
    balance_after    numeric(14,2) NOT NULL,  -- the invoice balance this posting left
    idempotency_key  text          UNIQUE,
    request_hash     text,
    reversed_at      timestamptz,
    reversed_by      text,
    reversal_reason  text,
    CHECK ((reversed_at IS NULL) = (reversal_reason IS NULL))
);
CREATE INDEX payments_invoice ON payments (invoice_id, seq);

CREATE TABLE ledger_entries (
    entry_id    bigserial     PRIMARY KEY,
    txn_id      text          NOT NULL,
    org_id      text          NOT NULL,
    invoice_id  text          NOT NULL,
    account     text          NOT NULL CHECK (account IN ('cash', 'receivable', 'revenue')),
    amount      numeric(14,2) NOT NULL CHECK (amount <> 0),
    created_at  timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX ledger_entries_txn ON ledger_entries (txn_id);
CREATE INDEX ledger_entries_invoice ON ledger_entries (invoice_id, account);
