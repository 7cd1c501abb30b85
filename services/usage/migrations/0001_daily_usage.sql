-- One row per service line and UTC day: the newest snapshot's figures.
CREATE TABLE daily_usage (
    service_line_number text          NOT NULL,
    day                 date          NOT NULL,
    priority_gb         numeric(20,9) NOT NULL CHECK (priority_gb >= 0),
    opt_in_priority_gb  numeric(20,9) NOT NULL CHECK (opt_in_priority_gb >= 0),
    standard_gb         numeric(20,9) NOT NULL CHECK (standard_gb >= 0),
    non_billable_gb     numeric(20,9) NOT NULL CHECK (non_billable_gb >= 0),
    observed_at         timestamptz   NOT NULL,
    updated_at          timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (service_line_number, day),
    CHECK (opt_in_priority_gb <= priority_gb)
);
