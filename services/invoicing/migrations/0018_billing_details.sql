-- The billing details an invoice names its buyer by (issue 15). Every column is optional:
-- organizations created before keep working, and their documents show the name instead.
-- `IF NOT EXISTS`: the tax migration adds the two tax columns with the same statement, so
-- either migration may run first.
ALTER TABLE organizations
    ADD COLUMN IF NOT EXISTS legal_name text,
    ADD COLUMN IF NOT EXISTS billing_address jsonb,
    ADD COLUMN IF NOT EXISTS tax_id text,
    ADD COLUMN IF NOT EXISTS tax_rate numeric(7,4) CHECK (tax_rate >= 0 AND tax_rate <= 100),
    ADD COLUMN IF NOT EXISTS tax_exempt_reason text;
