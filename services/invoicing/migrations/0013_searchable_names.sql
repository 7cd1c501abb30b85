-- The service-line and plan names of an invoice's current lines, on the invoice itself, with
-- trigram indexes: the list's "contains" filters read an index instead of every line.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

ALTER TABLE invoices
    ADD COLUMN service_line_names text NOT NULL DEFAULT '',
    ADD COLUMN plan_names         text NOT NULL DEFAULT '';

UPDATE invoices i SET
    service_line_names = coalesce((
        SELECT string_agg(DISTINCT l.service_line_name, E'\n' ORDER BY l.service_line_name)
        FROM invoice_lines l
        WHERE l.invoice_id = i.invoice_id AND l.revision = i.revision), ''),
    plan_names = coalesce((
        SELECT string_agg(DISTINCT n, E'\n' ORDER BY n)
        FROM invoice_lines l, unnest(ARRAY[l.plan_name, l.sub_pool_name]) AS n
        WHERE l.invoice_id = i.invoice_id AND l.revision = i.revision AND n IS NOT NULL), '');

CREATE INDEX invoices_service_line_names ON invoices USING gin (service_line_names gin_trgm_ops);
CREATE INDEX invoices_plan_names ON invoices USING gin (plan_names gin_trgm_ops);

-- A filter's text matched as itself inside LIKE: its `\`, `%` and `_` escaped.
CREATE FUNCTION like_text(text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS
$$ SELECT replace(replace(replace($1, '\', '\\'), '%', '\%'), '_', '\_') $$;
