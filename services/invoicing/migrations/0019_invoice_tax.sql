-- Tax on invoices (issue 15): the organization's rate or exemption, and on each invoice the
-- rate in force when it was generated, so that a later change of the organization's rate never
-- changes an issued invoice. The organization's columns are also added, identically, by the
-- billing-details migration; whichever runs first creates them.
ALTER TABLE organizations ADD COLUMN IF NOT EXISTS tax_rate numeric(7,4)
    CHECK (tax_rate >= 0 AND tax_rate <= 100);
ALTER TABLE organizations ADD COLUMN IF NOT EXISTS tax_exempt_reason text;

ALTER TABLE invoices ADD COLUMN tax numeric(14,2) NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN tax_rate numeric(7,4);
ALTER TABLE invoices ADD COLUMN tax_exempt_reason text;

-- 0005's unnamed CHECK (amount = regular_charges + additional_charges) got PostgreSQL's name
-- invoices_check; the amount now includes the tax.
ALTER TABLE invoices DROP CONSTRAINT invoices_check;
ALTER TABLE invoices ADD CONSTRAINT invoices_amount_sum
    CHECK (amount = regular_charges + additional_charges + tax);
ALTER TABLE invoices ADD CONSTRAINT invoices_tax_exempt
    CHECK (tax_exempt_reason IS NULL OR tax = 0);
