-- The buyer's Peppol electronic address (`scheme:id`), for e-invoices sent over Peppol; and a
-- correction settled by a credit note on the corrected invoice (the reseller's preference)
-- names that credit note (its `invoice_id` is then the credited invoice).
ALTER TABLE organizations ADD COLUMN peppol_id text;
ALTER TABLE corrections ADD COLUMN credit_note_id text REFERENCES credit_notes (id);
