-- Credit notes (issue 15): what was credited on each invoice, tax included, and the tax within
-- it, copied from the invoicing events (the latest wins). The receivable then holds
-- amount - credited - paid, which a credit note on a paid invoice makes negative (owed back).
ALTER TABLE invoices ADD COLUMN credited numeric(14,2) NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD COLUMN credited_tax numeric(14,2) NOT NULL DEFAULT 0;
ALTER TABLE invoices ADD CONSTRAINT credited_within_amount
    CHECK (credited >= 0 AND credited <= amount AND credited_tax >= 0 AND credited_tax <= credited);
