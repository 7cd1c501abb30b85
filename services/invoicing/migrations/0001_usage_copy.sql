-- The invoicing service's own copy of daily usage, fed by `usage.recorded`:
-- billing reads it without asking the usage service.
CREATE TABLE line_daily_usage (
    service_line_number text          NOT NULL,
    day                 date          NOT NULL,
    priority_gb         numeric(20,9) NOT NULL,
    opt_in_priority_gb  numeric(20,9) NOT NULL,
    standard_gb         numeric(20,9) NOT NULL,
    non_billable_gb     numeric(20,9) NOT NULL,
    observed_at         timestamptz   NOT NULL,
    PRIMARY KEY (service_line_number, day)
);
