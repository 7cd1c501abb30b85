-- Watching usage (issue 16): alert thresholds per organization, the alerts sent, and indexes
-- for reading a sub-pool's members and a line's plan terms per request.
ALTER TABLE organizations
    ADD COLUMN usage_alert_thresholds integer[] NOT NULL DEFAULT '{80,100}'
        CHECK (cardinality(usage_alert_thresholds) <= 10
               AND 1 <= ALL (usage_alert_thresholds) AND 1000 >= ALL (usage_alert_thresholds));

-- One row per (subject, period, threshold), ever: the unique index makes an alert once, even
-- with replayed or repeated usage and several replicas checking at the same time (the second
-- insert waits for the first to commit and then does nothing). A revision that lowers usage
-- below a threshold keeps the row, so crossing it again in the period alerts no one.
CREATE TABLE usage_alerts (
    id            bigint        GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subject       text          NOT NULL CHECK (subject IN ('service_line', 'sub_pool')),
    subject_id    text          NOT NULL,
    period        text          NOT NULL,
    threshold     integer       NOT NULL CHECK (threshold BETWEEN 1 AND 1000),
    org_id        text          NOT NULL,
    subject_name  text          NOT NULL,
    allowance_gb  numeric(24,9) NOT NULL,
    used_gb       numeric(24,9) NOT NULL,
    percent_used  numeric(12,2),
    forecast_gb   numeric(24,9) NOT NULL,
    recipients    text[]        NOT NULL,
    crossed_at    timestamptz   NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX usage_alerts_once ON usage_alerts (subject, subject_id, period, threshold);
CREATE INDEX usage_alerts_org_period ON usage_alerts (org_id, period, id);

CREATE INDEX service_lines_sub_pool ON service_lines (sub_pool_id, active_from)
    WHERE sub_pool_id IS NOT NULL;

-- A month's daily priority GB kept beside its sums (day of month, GB; rebuilt with them from
-- the day rows): a pool's days are then one row per member, not a range of day rows each
-- (500 members' days are scattered over hundreds of pages; their month rows are not).
ALTER TABLE line_month_usage
    ADD COLUMN day_numbers smallint[] NOT NULL DEFAULT '{}',
    ADD COLUMN day_priority_gb numeric(20,9)[] NOT NULL DEFAULT '{}';
UPDATE line_month_usage m SET day_numbers = x.n, day_priority_gb = x.gb
FROM (SELECT service_line_number, date_trunc('month', day)::date AS month,
             array_agg(extract(day FROM day)::smallint ORDER BY day) AS n,
             array_agg(priority_gb ORDER BY day) AS gb
      FROM line_daily_usage GROUP BY 1, 2) x
WHERE x.service_line_number = m.service_line_number AND x.month = m.month;
