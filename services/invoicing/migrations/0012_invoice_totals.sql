-- Totals and status counts of the invoice list without reading every invoice: per kind, issue
-- day and status, the number of invoices, their amount and their balance. Changes land as
-- delta rows (insert-only, so concurrent writers never wait on a shared row), written by
-- statement triggers in the same transaction as the change; `compact_invoice_totals()` folds
-- them into `invoice_day_totals` every few seconds. Readers add both.
CREATE TABLE invoice_day_totals (
    kind       text          NOT NULL,
    issued_on  date          NOT NULL,
    status     text          NOT NULL,
    invoices   bigint        NOT NULL,
    invoiced   numeric(20,2) NOT NULL,
    balance    numeric(20,2) NOT NULL,
    PRIMARY KEY (kind, issued_on, status)
);

CREATE TABLE invoice_day_deltas (
    id         bigserial     PRIMARY KEY,
    kind       text          NOT NULL,
    issued_on  date          NOT NULL,
    status     text          NOT NULL,
    invoices   bigint        NOT NULL,
    invoiced   numeric(20,2) NOT NULL,
    balance    numeric(20,2) NOT NULL
);

CREATE FUNCTION invoice_totals_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO invoice_day_deltas (kind, issued_on, status, invoices, invoiced, balance)
    SELECT kind, issued_on, status, count(*), sum(amount), sum(balance)
    FROM new_rows GROUP BY kind, issued_on, status;
    RETURN NULL;
END $$;

CREATE FUNCTION invoice_totals_updated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO invoice_day_deltas (kind, issued_on, status, invoices, invoiced, balance)
    SELECT kind, issued_on, status, sum(n), sum(amount), sum(balance)
    FROM (SELECT kind, issued_on, status, 1 AS n, amount, balance FROM new_rows
          UNION ALL
          SELECT kind, issued_on, status, -1, -amount, -balance FROM old_rows) AS change
    GROUP BY kind, issued_on, status
    HAVING sum(n) <> 0 OR sum(amount) <> 0 OR sum(balance) <> 0;
    RETURN NULL;
END $$;

CREATE FUNCTION invoice_totals_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO invoice_day_deltas (kind, issued_on, status, invoices, invoiced, balance)
    SELECT kind, issued_on, status, -count(*), -sum(amount), -sum(balance)
    FROM old_rows GROUP BY kind, issued_on, status;
    RETURN NULL;
END $$;

CREATE TRIGGER invoice_totals_on_insert AFTER INSERT ON invoices
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION invoice_totals_inserted();
CREATE TRIGGER invoice_totals_on_update AFTER UPDATE ON invoices
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION invoice_totals_updated();
CREATE TRIGGER invoice_totals_on_delete AFTER DELETE ON invoices
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION invoice_totals_deleted();

CREATE FUNCTION compact_invoice_totals() RETURNS bigint LANGUAGE sql AS $$
    WITH moved AS (DELETE FROM invoice_day_deltas RETURNING *),
    folded AS (
        INSERT INTO invoice_day_totals AS t (kind, issued_on, status, invoices, invoiced, balance)
        SELECT kind, issued_on, status, sum(invoices), sum(invoiced), sum(balance)
        FROM moved GROUP BY kind, issued_on, status
        ON CONFLICT (kind, issued_on, status) DO UPDATE
        SET invoices = t.invoices + excluded.invoices,
            invoiced = t.invoiced + excluded.invoiced,
            balance = t.balance + excluded.balance
        RETURNING 1)
    SELECT count(*) FROM moved;
$$;

INSERT INTO invoice_day_totals (kind, issued_on, status, invoices, invoiced, balance)
SELECT kind, issued_on, status, count(*), sum(amount), sum(balance)
FROM invoices GROUP BY kind, issued_on, status;

-- Keyset pages in the orders the list offers.
CREATE INDEX invoices_payable_order ON invoices (payable_on, invoice_id);
CREATE INDEX invoices_amount_order ON invoices (amount, invoice_id);
CREATE INDEX invoices_balance_order ON invoices (balance, invoice_id);
CREATE INDEX invoices_org_invoice ON invoices (org_id, invoice_id);
