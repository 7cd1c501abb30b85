-- The catalog: organizations (a tree), plans, sub-pools, service lines, products.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE organizations (
    id                  text        PRIMARY KEY,
    name                text        NOT NULL,
    parent_id           text        REFERENCES organizations (id),
    customer_emails     text[]      NOT NULL DEFAULT '{}',
    finance_emails      text[]      NOT NULL DEFAULT '{}',
    payment_terms_days  integer     NOT NULL CHECK (payment_terms_days BETWEEN 0 AND 365),
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX organizations_parent ON organizations (parent_id);

CREATE TABLE plans (
    id                   text          PRIMARY KEY,
    name                 text          NOT NULL UNIQUE,
    monthly_price        numeric(14,2) NOT NULL CHECK (monthly_price >= 0),
    allowance_gb         numeric(20,9) NOT NULL CHECK (allowance_gb >= 0),
    overage_price_per_gb numeric(14,4) CHECK (overage_price_per_gb >= 0),
    overage_block_gb     numeric(20,9) CHECK (overage_block_gb > 0),
    overage_block_price  numeric(14,2) CHECK (overage_block_price >= 0),
    created_at           timestamptz   NOT NULL DEFAULT now(),
    CHECK ((overage_price_per_gb IS NOT NULL)
           <> (overage_block_gb IS NOT NULL AND overage_block_price IS NOT NULL)),
    CHECK ((overage_block_gb IS NULL) = (overage_block_price IS NULL))
);

CREATE TABLE sub_pools (
    id                   text          PRIMARY KEY,
    org_id               text          NOT NULL REFERENCES organizations (id),
    name                 text          NOT NULL,
    monthly_price        numeric(14,2) NOT NULL CHECK (monthly_price >= 0),
    allowance_gb         numeric(20,9) NOT NULL CHECK (allowance_gb >= 0),
    overage_price_per_gb numeric(14,4) NOT NULL CHECK (overage_price_per_gb >= 0),
    created_at           timestamptz   NOT NULL DEFAULT now(),
    UNIQUE (org_id, name)
);

-- A service line may move between plans or pools over time: one row per assignment, never two
-- covering the same day (active_to is the last active day, inclusive).
DROP TABLE service_lines;
CREATE TABLE service_lines (
    id                  text        PRIMARY KEY,
    service_line_number text        NOT NULL,
    name                text        NOT NULL,
    org_id              text        NOT NULL REFERENCES organizations (id),
    plan_id             text        REFERENCES plans (id),
    sub_pool_id         text        REFERENCES sub_pools (id),
    active_from         date        NOT NULL,
    active_to           date,
    created_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((plan_id IS NULL) <> (sub_pool_id IS NULL)),
    CHECK (active_to IS NULL OR active_to >= active_from),
    CONSTRAINT service_lines_no_overlap EXCLUDE USING gist (
        service_line_number WITH =, daterange(active_from, active_to, '[]') WITH &&)
);
CREATE INDEX service_lines_org ON service_lines (org_id);

CREATE TABLE products (
    id          text          PRIMARY KEY,
    name        text          NOT NULL UNIQUE,
    unit_price  numeric(14,2) NOT NULL CHECK (unit_price >= 0),
    created_at  timestamptz   NOT NULL DEFAULT now()
);
