-- Resyncs run as jobs, one at a time across replicas: a long re-announcement must not be
-- started twice by an impatient client, and anyone may watch its progress.
CREATE TABLE resync_jobs (
    id             bigserial   PRIMARY KEY,
    from_month     date        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('running', 'done', 'failed')),
    days           bigint      NOT NULL DEFAULT 0,
    service_lines  bigint      NOT NULL DEFAULT 0,
    messages       bigint      NOT NULL DEFAULT 0,
    started_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    error          text
);
CREATE UNIQUE INDEX resync_jobs_one_running ON resync_jobs ((true)) WHERE state = 'running';
