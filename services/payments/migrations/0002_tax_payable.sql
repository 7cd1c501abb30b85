-- Tax on invoices (issue 15): each invoice's tax, and the tax payable account it is credited
-- to (receivable = revenue + tax payable when an invoice is issued).
ALTER TABLE invoices ADD COLUMN tax numeric(14,2) NOT NULL DEFAULT 0;
ALTER TABLE ledger_entries DROP CONSTRAINT ledger_entries_account_check;
ALTER TABLE ledger_entries ADD CONSTRAINT ledger_entries_account_check
    CHECK (account IN ('cash', 'receivable', 'revenue', 'tax_payable'));
