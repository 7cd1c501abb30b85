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
