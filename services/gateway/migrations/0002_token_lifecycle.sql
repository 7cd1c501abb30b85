-- Tokens expire (optionally), record their last use, and are revoked by DELETE /tokens/{id}.
ALTER TABLE tokens ADD COLUMN expires_at   timestamptz;
ALTER TABLE tokens ADD COLUMN last_used_at timestamptz;
CREATE INDEX audit_log_action ON audit_log (action, id);
