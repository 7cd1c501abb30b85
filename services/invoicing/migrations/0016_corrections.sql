-- Corrections (issue 13): what each organization's invoice for a period was computed to bill
-- (its generated lines, by charge), the corrections issued since for that period (each on the
-- invoice that carries it), the (organization, period) pairs a change may have touched, and
-- credit carried from an invoice that would have gone below zero to the next one.
CREATE TABLE computed_charges (
    org_id      text          NOT NULL REFERENCES organizations (id),
    period      text          NOT NULL,
    key         text          NOT NULL,
    label       text          NOT NULL,
    amount      numeric(14,2) NOT NULL,
    PRIMARY KEY (org_id, period, key)
);

-- Invoices generated before this migration: their last system computation (the latest
-- regeneration, else the first revision) is what was computed.
INSERT INTO computed_charges (org_id, period, key, label, amount)
SELECT i.org_id, i.period,
       l.type || '|' || coalesce(l.service_line_number, '') || '|' || coalesce(l.plan_name, '')
           || '|' || coalesce(l.sub_pool_name, ''),
       min(l.description), sum(l.amount)
FROM invoices i
JOIN LATERAL (
    SELECT coalesce(max(r.revision), 1) AS revision FROM invoice_revisions r
    WHERE r.invoice_id = i.invoice_id AND r.reason = 'regenerated from the current usage and catalog'
) computed ON true
JOIN invoice_lines l ON l.invoice_id = i.invoice_id AND l.revision = computed.revision
WHERE i.kind = 'SUBSCRIPTION' AND l.type IN ('REGULAR', 'OVERAGE')
GROUP BY 1, 2, 3;

CREATE TABLE corrections (
    id                bigserial     PRIMARY KEY,
    org_id            text          NOT NULL REFERENCES organizations (id),
    corrected_period  text          NOT NULL,
    key               text          NOT NULL,
    amount            numeric(14,2) NOT NULL CHECK (amount <> 0),
    invoice_id        text          NOT NULL REFERENCES invoices (invoice_id),
    created_at        timestamptz   NOT NULL DEFAULT now()
);
CREATE INDEX corrections_org_period ON corrections (org_id, corrected_period);
CREATE INDEX corrections_invoice ON corrections (invoice_id);

CREATE TABLE correction_marks (
    org_id     text        NOT NULL,
    period     text        NOT NULL,
    marked_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, period)
);

CREATE TABLE credit_carry (
    id               bigserial     PRIMARY KEY,
    org_id           text          NOT NULL REFERENCES organizations (id),
    from_invoice_id  text          NOT NULL REFERENCES invoices (invoice_id),
    amount           numeric(14,2) NOT NULL CHECK (amount > 0),
    to_invoice_id    text          REFERENCES invoices (invoice_id)
);
CREATE INDEX credit_carry_open ON credit_carry (org_id) WHERE to_invoice_id IS NULL;

