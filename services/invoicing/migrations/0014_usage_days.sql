-- The invoicing service copies usage as state, not as differences (issue 12): its own day rows,
-- where the snapshot of highest precedence wins by the usage service's rule (newest observed_at,
-- then the figures), and monthly sums recomputed from those rows for every month a message
-- touches. Any order, repetition or replay of `usage.recorded` leaves the same copy.
CREATE TABLE line_daily_usage (
    service_line_number text          NOT NULL,
    day                 date          NOT NULL,
    priority_gb         numeric(20,9) NOT NULL CHECK (priority_gb >= 0),
    opt_in_priority_gb  numeric(20,9) NOT NULL CHECK (opt_in_priority_gb >= 0),
    standard_gb         numeric(20,9) NOT NULL CHECK (standard_gb >= 0),
    non_billable_gb     numeric(20,9) NOT NULL CHECK (non_billable_gb >= 0),
    observed_at         timestamptz   NOT NULL,
    PRIMARY KEY (service_line_number, day)
);

-- Sums moved by differences cannot be trusted (a message lowering a month was refused whole by
-- the CHECK below, and its lines lost): they are rebuilt from days. After this migration run
-- `billport usage resync --from <first month billed>`; `billport usage check` shows what
-- differs until then.
TRUNCATE line_month_usage;
DELETE FROM processed_events WHERE consumer = 'usage.recorded->line_month_usage';

-- Usage of one line that could not be applied (after retries of that line alone): an alarm,
-- never a silent loss. Resolved when the line's days are applied later (a resync), or dismissed
-- by an admin with the reason.
CREATE TABLE usage_apply_failures (
    id                  bigserial   PRIMARY KEY,
    service_line_number text        NOT NULL,
    days                jsonb       NOT NULL,
    reason              text        NOT NULL,
    event_id            uuid,
    source_partition    integer     NOT NULL,
    source_offset       bigint      NOT NULL,
    failed_at           timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    resolution          text
    -- "applied" when the line's days arrived later; "dismissed by <who>: <why>" when an
    -- operator confirmed a message that was never usage (nothing to bill in it)
);
-- A message delivered again (after a transient error) records its failures once.
CREATE UNIQUE INDEX usage_apply_failures_once
    ON usage_apply_failures (source_partition, source_offset, service_line_number);
CREATE INDEX usage_apply_failures_open ON usage_apply_failures (service_line_number)
    WHERE resolved_at IS NULL;
