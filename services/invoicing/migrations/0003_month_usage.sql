-- Billing needs a service line's usage per month, not per day: keep monthly sums, moved by the
-- differences each `usage.recorded` day carries (new figures minus the ones they replace).
-- Every event is applied exactly once (processed_events), so the sums are exact.
CREATE TABLE line_month_usage (
    service_line_number text          NOT NULL,
    month               date          NOT NULL CHECK (extract(day FROM month) = 1),
    priority_gb         numeric(24,9) NOT NULL,
    opt_in_priority_gb  numeric(24,9) NOT NULL,
    standard_gb         numeric(24,9) NOT NULL,
    non_billable_gb     numeric(24,9) NOT NULL,
    days_with_usage     integer       NOT NULL,
    first_day           date          NOT NULL,
    last_day            date          NOT NULL,
    PRIMARY KEY (service_line_number, month),
    CHECK (priority_gb >= 0 AND opt_in_priority_gb >= 0 AND standard_gb >= 0
           AND non_billable_gb >= 0 AND days_with_usage >= 0)
);

-- What the daily copy held becomes the first monthly sums.
INSERT INTO line_month_usage
SELECT service_line_number, date_trunc('month', day)::date, sum(priority_gb),
       sum(opt_in_priority_gb), sum(standard_gb), sum(non_billable_gb), count(*), min(day),
       max(day)
FROM line_daily_usage GROUP BY 1, 2;

DROP TABLE line_daily_usage;
