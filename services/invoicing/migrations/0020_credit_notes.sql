-- Credit notes (issue 15). Once its sending is requested an invoice is final: what lowers it
-- afterwards is a credit note, in a gap-free series of its own (CN-YYYYMM-NNNNNN by month of
-- issue), with its lines. The invoice keeps what was credited, and its balance counts it:
-- balance = amount - payments - credited. A credit note on a paid invoice leaves a negative
-- balance (owed back); payments never exceed the amount, credits never exceed it either.
ALTER TABLE invoices ADD COLUMN final boolean NOT NULL DEFAULT false;
ALTER TABLE invoices ADD COLUMN credited numeric(14,2) NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN credited_tax numeric(14,2) NOT NULL DEFAULT 0;

UPDATE invoices i SET final = true
WHERE sent OR EXISTS (SELECT 1 FROM send_requests s
                      WHERE s.invoice_id = i.invoice_id AND s.purpose = 'invoice');

-- 0005's unnamed checks of the balance (PostgreSQL named them by number): replaced by named
-- ones that count the credit.
DO $$
DECLARE c record;
BEGIN
    FOR c IN SELECT conname FROM pg_constraint
             WHERE conrelid = 'invoices'::regclass AND contype = 'c'
               AND pg_get_constraintdef(oid) LIKE '%balance%'
    LOOP
        EXECUTE format('ALTER TABLE invoices DROP CONSTRAINT %I', c.conname);
    END LOOP;
END $$;
ALTER TABLE invoices ADD CONSTRAINT invoices_balance_sum
    CHECK (balance = amount - payments - credited);
ALTER TABLE invoices ADD CONSTRAINT invoices_money_bounds
    CHECK (payments >= 0 AND payments <= amount AND credited >= 0 AND credited <= amount
           AND credited_tax >= 0 AND credited_tax <= tax AND credited_tax <= credited);
ALTER TABLE invoices ADD CONSTRAINT invoices_credit_only_final
    CHECK (credited = 0 OR final);

ALTER TABLE send_requests DROP CONSTRAINT send_requests_purpose_check;
ALTER TABLE send_requests ADD CONSTRAINT send_requests_purpose_check
    CHECK (purpose IN ('invoice', 'reminder', 'credit_note'));
ALTER TABLE send_requests ADD COLUMN credit_note_id text;

CREATE TABLE credit_note_numbers (
    month  text    PRIMARY KEY,   -- YYYYMM of issued_on
    last   integer NOT NULL
);

CREATE TABLE credit_notes (
    id          text          PRIMARY KEY,   -- CN-YYYYMM-NNNNNN
    invoice_id  text          NOT NULL REFERENCES invoices (invoice_id),
    org_id      text          NOT NULL REFERENCES organizations (id),
    issued_on   date          NOT NULL,
    reason      text          NOT NULL CHECK (length(reason) BETWEEN 1 AND 1000),
    net         numeric(14,2) NOT NULL,
    tax         numeric(14,2) NOT NULL CHECK (tax >= 0),
    amount      numeric(14,2) NOT NULL CHECK (amount > 0),
    issued_by   text          NOT NULL,
    issued_at   timestamptz   NOT NULL DEFAULT now(),
    CHECK (amount = net + tax)
);
CREATE INDEX credit_notes_invoice ON credit_notes (invoice_id, id);
CREATE INDEX credit_notes_org ON credit_notes (org_id, id);

CREATE TABLE credit_note_lines (
    credit_note_id      text          NOT NULL REFERENCES credit_notes (id),
    position            integer       NOT NULL,
    type                text          NOT NULL
        CHECK (type IN ('REGULAR', 'OVERAGE', 'ADJUSTMENT', 'PRODUCT')),
    description         text          NOT NULL,
    service_line_number text,
    service_line_name   text,
    plan_name           text,
    sub_pool_name       text,
    quantity            numeric(24,9) NOT NULL,
    unit_price          numeric(14,4) NOT NULL,
    usage_gb            numeric(24,9),
    amount              numeric(14,2) NOT NULL,
    PRIMARY KEY (credit_note_id, position)
);
