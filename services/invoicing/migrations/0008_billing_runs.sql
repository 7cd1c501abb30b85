-- Every billing run: when, by what, what it did (the scheduler runs a period once).
CREATE TABLE billing_runs (
    id         bigserial   PRIMARY KEY,
    period     text        NOT NULL,
    ran_at     timestamptz NOT NULL DEFAULT now(),
    trigger    text        NOT NULL,
    generated  integer     NOT NULL,
    skipped    integer     NOT NULL
);
CREATE INDEX billing_runs_period ON billing_runs (period);
