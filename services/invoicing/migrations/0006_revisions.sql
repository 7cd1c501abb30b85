-- Every change of an issued invoice is a revision: who, when, why, the amounts before and after
-- (the lines of each revision stay in invoice_lines).
CREATE TABLE invoice_revisions (
    invoice_id     text          NOT NULL REFERENCES invoices (invoice_id),
    revision       integer       NOT NULL,
    at             timestamptz   NOT NULL DEFAULT now(),
    by             text          NOT NULL,
    reason         text          NOT NULL,
    amount_before  numeric(14,2) NOT NULL,
    amount_after   numeric(14,2) NOT NULL,
    PRIMARY KEY (invoice_id, revision)
);

ALTER TABLE invoices ADD COLUMN approved_by text, ADD COLUMN approved_at timestamptz;
