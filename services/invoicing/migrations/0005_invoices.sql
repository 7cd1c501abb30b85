-- Invoices, their lines per revision, and the counters behind human invoice numbers.
CREATE TABLE invoice_numbers (
    month  text    PRIMARY KEY,   -- YYYYMM of issued_on
    last   integer NOT NULL
);

CREATE TABLE invoices (
    invoice_id          text          PRIMARY KEY,   -- INV-YYYYMM-NNNNNN
    kind                text          NOT NULL CHECK (kind IN ('SUBSCRIPTION', 'ONE_TIME')),
    org_id              text          NOT NULL REFERENCES organizations (id),
    period              text,
    issued_on           date          NOT NULL,
    payable_on          date          NOT NULL,
    regular_charges     numeric(14,2) NOT NULL,
    additional_charges  numeric(14,2) NOT NULL,
    amount              numeric(14,2) NOT NULL,
    payments            numeric(14,2) NOT NULL DEFAULT 0,
    balance             numeric(14,2) NOT NULL,
    status              text          NOT NULL DEFAULT 'GENERATED'
        CHECK (status IN ('GENERATED', 'SENT_FOR_PAYMENT', 'PARTIAL_PAID', 'PAYMENT_DONE')),
    approved            boolean       NOT NULL DEFAULT false,
    sent                boolean       NOT NULL DEFAULT false,
    revision            integer       NOT NULL DEFAULT 1,
    created_at          timestamptz   NOT NULL DEFAULT now(),
    CHECK (amount = regular_charges + additional_charges),
    CHECK (balance = amount - payments),
    CHECK (payments >= 0 AND balance >= 0),
    CHECK ((kind = 'SUBSCRIPTION') = (period IS NOT NULL))
);
CREATE UNIQUE INDEX invoices_one_subscription ON invoices (org_id, period)
    WHERE kind = 'SUBSCRIPTION';
CREATE INDEX invoices_org_issued ON invoices (org_id, issued_on);
CREATE INDEX invoices_kind_issued ON invoices (kind, issued_on);

CREATE TABLE invoice_lines (
    invoice_id          text          NOT NULL REFERENCES invoices (invoice_id),
    revision            integer       NOT NULL,
    position            integer       NOT NULL,
    type                text          NOT NULL
        CHECK (type IN ('REGULAR', 'OVERAGE', 'ADJUSTMENT', 'PRODUCT', 'USAGE_INFO')),
    description         text          NOT NULL,
    service_line_number text,
    service_line_name   text,
    plan_name           text,
    sub_pool_name       text,
    quantity            numeric(24,9) NOT NULL,
    unit_price          numeric(14,4) NOT NULL,
    usage_gb            numeric(24,9),
    amount              numeric(14,2) NOT NULL,
    PRIMARY KEY (invoice_id, revision, position),
    CHECK (type <> 'USAGE_INFO' OR amount = 0)
);

CREATE TABLE product_orders (
    id          text        PRIMARY KEY,
    org_id      text        NOT NULL REFERENCES organizations (id),
    ordered_on  date        NOT NULL,
    invoice_id  text        NOT NULL REFERENCES invoices (invoice_id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
