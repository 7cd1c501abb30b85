-- Usage alert e-mails (issue 16) go through the same durable queue as invoices: one row per
-- alert (request id `usage-alert-<alert id>`, so an alert read twice is queued once), the
-- alert as it was made in `alert`, no invoice and no document.
ALTER TABLE sends
    ALTER COLUMN invoice_id DROP NOT NULL,
    ALTER COLUMN document DROP NOT NULL,
    ADD COLUMN alert jsonb,
    ADD CONSTRAINT sends_carry_a_document_or_an_alert
        CHECK (document IS NOT NULL OR alert IS NOT NULL);
