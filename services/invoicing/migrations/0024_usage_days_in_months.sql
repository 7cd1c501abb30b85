-- The copy's days move into rows per (line, month) (issue 17): applying a message writes two
-- rows per month it touches instead of a row per day, its index entry, and a second pass
-- re-reading those rows to sum them. `line_month_usage` keeps the sums, the day numbers and
-- each day's priority GB (what billing and pools read); `line_month_days` the rest of each day,
-- in the same order: its other three figures and its snapshot time, which latest-wins needs.
-- Latest wins per day as before, and the sums are rebuilt from the days in the statement that
-- writes them, never moved by differences. `line_daily_usage` stays, as a view.
CREATE TABLE line_month_days (
    service_line_number    text              NOT NULL,
    month                  date              NOT NULL,
    day_opt_in_priority_gb numeric(20,9)[]   NOT NULL,
    day_standard_gb        numeric(20,9)[]   NOT NULL,
    day_non_billable_gb    numeric(20,9)[]   NOT NULL,
    day_observed_at        timestamptz[]     NOT NULL,
    PRIMARY KEY (service_line_number, month),
    CHECK (cardinality(day_standard_gb) = cardinality(day_opt_in_priority_gb)
           AND cardinality(day_non_billable_gb) = cardinality(day_opt_in_priority_gb)
           AND cardinality(day_observed_at) = cardinality(day_opt_in_priority_gb)
           AND 0 <= ALL (day_opt_in_priority_gb) AND 0 <= ALL (day_standard_gb)
           AND 0 <= ALL (day_non_billable_gb))
);

INSERT INTO line_month_days
SELECT service_line_number, date_trunc('month', day)::date,
       array_agg(opt_in_priority_gb ORDER BY day), array_agg(standard_gb ORDER BY day),
       array_agg(non_billable_gb ORDER BY day), array_agg(observed_at ORDER BY day)
FROM line_daily_usage GROUP BY 1, 2;

-- Each day once in each array, and no negative priority GB (the day table's checks).
ALTER TABLE line_month_usage ADD CONSTRAINT line_month_usage_days_aligned CHECK (
    cardinality(day_numbers) = days_with_usage
    AND cardinality(day_priority_gb) = days_with_usage
    AND 0 <= ALL (day_priority_gb));

DROP TABLE line_daily_usage;

-- A line's days, read from the month rows: filter on `month` too, so only those rows unnest.
CREATE VIEW line_daily_usage AS
SELECT m.service_line_number, m.month, m.month + x.n - 1 AS day, x.priority_gb,
       x.opt_in_priority_gb, x.standard_gb, x.non_billable_gb, x.observed_at
FROM line_month_usage m
JOIN line_month_days d ON d.service_line_number = m.service_line_number AND d.month = m.month
CROSS JOIN LATERAL unnest(m.day_numbers, m.day_priority_gb, d.day_opt_in_priority_gb,
                          d.day_standard_gb, d.day_non_billable_gb, d.day_observed_at)
    AS x(n, priority_gb, opt_in_priority_gb, standard_gb, non_billable_gb, observed_at);
