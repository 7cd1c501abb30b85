-- When a payment was reversed, for the invoice posting transactions (IPT export).
ALTER TABLE invoice_payments ADD COLUMN reversed_at timestamptz;
