-- A final document never changes: the buyer's billing details as they were when the invoice's
-- sending was requested (or its credit note issued) are kept with it; until then documents show
-- the organization's details as they stand.
ALTER TABLE invoices ADD COLUMN buyer jsonb;
ALTER TABLE credit_notes ADD COLUMN buyer jsonb;
