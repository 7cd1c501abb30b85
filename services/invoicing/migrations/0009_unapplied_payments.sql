-- A posting that arrives after a revision lowered the invoice below it (the two raced) is kept
-- but not applied; the payments service reverses it, and nothing moves.
ALTER TABLE invoice_payments
    ADD COLUMN applied   boolean     NOT NULL DEFAULT true,
    ADD COLUMN note      text,
    ADD COLUMN seq       bigserial;  -- arrival order, the order they were applied in
