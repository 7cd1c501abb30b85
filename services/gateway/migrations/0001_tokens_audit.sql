-- API tokens, stored as SHA-256 hashes: the token itself is shown once, at creation.
CREATE TABLE tokens (
    id          text        PRIMARY KEY,
    name        text        NOT NULL,
    role        text        NOT NULL CHECK (role IN ('admin', 'finance', 'org_user', 'feed')),
    org_id      text,
    token_hash  text        NOT NULL UNIQUE,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz,
    CHECK ((role = 'org_user') = (org_id IS NOT NULL))
);

-- Who did what, when, from where: every state-changing action through the gateway.
CREATE TABLE audit_log (
    id          bigserial   PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    role        text        NOT NULL,
    client_ip   text,
    action      text        NOT NULL,
    subject     text,
    detail      jsonb       NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_subject ON audit_log (subject, at);
