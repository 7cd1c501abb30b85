-- A credit note's e-mail carries the credit note (its PDF attached) beside the invoice it
-- credits (`document`): kept with the request, so what is sent is what was issued.
ALTER TABLE sends ADD COLUMN credit_note jsonb;
