-- What the payments service and the notifier report about invoices, as the invoice shows it.
CREATE TABLE invoice_payments (
    payment_id   text          PRIMARY KEY,
    invoice_id   text          NOT NULL REFERENCES invoices (invoice_id),
    amount       numeric(14,2) NOT NULL CHECK (amount > 0),
    received_on  date          NOT NULL,
    method       text          NOT NULL,
    reference    text,
    posted_by    text          NOT NULL,
    reversed     boolean       NOT NULL DEFAULT false,
    reversal_reason text
);
CREATE INDEX invoice_payments_invoice ON invoice_payments (invoice_id);

ALTER TABLE invoices ADD COLUMN sent_to text[], ADD COLUMN last_send_error text;
