-- Up Migration

-- A customer's credit balance (credit notes beyond what an invoice owed, booked to
-- customer_credit) is used by their next invoices when they are issued. What an invoice took
-- from the balance is kept apart from cash (amount_paid) and credit notes (amount_credited):
-- still owed = total - amount_paid - amount_credited - amount_credit_applied.
ALTER TABLE invoices ADD COLUMN amount_credit_applied bigint NOT NULL DEFAULT 0 CHECK (amount_credit_applied >= 0);

-- Down Migration

ALTER TABLE invoices DROP COLUMN amount_credit_applied;
