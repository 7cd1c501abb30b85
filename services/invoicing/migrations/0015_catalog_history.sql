-- A living catalog (issue 13): price versions of plans and sub-pools for periods from a month on.
-- Each version holds the complete terms in force from `effective_from` (the first of a month);
-- the plan's or pool's own row holds the terms before its first version.
CREATE TABLE plan_versions (
    plan_id              text          NOT NULL REFERENCES plans (id),
    effective_from       date          NOT NULL CHECK (extract(day FROM effective_from) = 1),
    monthly_price        numeric(14,2) NOT NULL CHECK (monthly_price >= 0),
    allowance_gb         numeric(20,9) NOT NULL CHECK (allowance_gb >= 0),
    overage_price_per_gb numeric(14,4) CHECK (overage_price_per_gb >= 0),
    overage_block_gb     numeric(20,9) CHECK (overage_block_gb > 0),
    overage_block_price  numeric(14,2) CHECK (overage_block_price >= 0),
    created_at           timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (plan_id, effective_from),
    CHECK ((overage_price_per_gb IS NOT NULL)
           <> (overage_block_gb IS NOT NULL AND overage_block_price IS NOT NULL)),
    CHECK ((overage_block_gb IS NULL) = (overage_block_price IS NULL))
);

CREATE TABLE sub_pool_versions (
    sub_pool_id          text          NOT NULL REFERENCES sub_pools (id),
    effective_from       date          NOT NULL CHECK (extract(day FROM effective_from) = 1),
    monthly_price        numeric(14,2) NOT NULL CHECK (monthly_price >= 0),
    allowance_gb         numeric(20,9) NOT NULL CHECK (allowance_gb >= 0),
    overage_price_per_gb numeric(14,4) NOT NULL CHECK (overage_price_per_gb >= 0),
    created_at           timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (sub_pool_id, effective_from)
);

CREATE INDEX service_lines_number ON service_lines (service_line_number, active_from);
