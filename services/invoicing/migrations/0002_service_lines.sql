-- Service lines known to the catalog. Usage of a line not in here is kept (line_daily_usage)
-- and reported as unassigned until the line is added.
CREATE TABLE service_lines (
    service_line_number text        PRIMARY KEY,
    created_at          timestamptz NOT NULL DEFAULT now()
);
