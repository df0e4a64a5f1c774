-- Up Migration
-- What the retry model (domain/retry-model.ts) learns from, and where its decisions are kept.

-- An attempt row says why it was made and when, in the workflow's time: tests run under time
-- skipping, so created_at (the wall clock) is not the business time of the attempt. Rows written
-- before these columns existed have NULLs and are read as context only (db/retry-history.ts).
ALTER TABLE payment_attempts
  ADD COLUMN trigger      text CHECK (trigger IN ('initial', 'automatic', 'new_payment_method')),
  ADD COLUMN retry_number integer CHECK (retry_number >= 0),
  ADD COLUMN attempted_at timestamptz,
  -- Stripe's card "funding" values; NULL when the gateway did not say.
  ADD COLUMN card_type    text CHECK (card_type IN ('credit', 'debit', 'prepaid', 'unknown'));

-- The model reads attempts whose outcome changed since its last look, and a customer's own.
CREATE INDEX payment_attempts_updated_idx ON payment_attempts (updated_at);
CREATE INDEX IF NOT EXISTS invoices_customer_idx ON invoices (customer_id);

-- Local weekday, hour and day of month are the customer's, not UTC's.
ALTER TABLE customers
  ADD COLUMN utc_offset_minutes integer NOT NULL DEFAULT 0 CHECK (utc_offset_minutes BETWEEN -720 AND 840);

-- Every smart-retry decision, stored when it is made (before the retry happens) with its reason
-- and what the model saw, so a retried activity returns the same decision and an operator can
-- see why a card was retried when it was. The retry attempt later carries the same reason in
-- payment_attempts.retry_reason.
CREATE TABLE retry_decisions (
  id                    text PRIMARY KEY, -- <invoice id>:retry-<n>:after-<failed attempt's instant>
  invoice_id            text NOT NULL REFERENCES invoices (id),
  customer_id           text NOT NULL REFERENCES customers (id),
  retry_number          integer NOT NULL CHECK (retry_number >= 1),
  decided_at            timestamptz NOT NULL, -- workflow time
  chosen_at             timestamptz NOT NULL,
  score                 numeric(5, 4) NOT NULL CHECK (score >= 0 AND score <= 1),
  reason                text NOT NULL,
  plan                  jsonb NOT NULL CHECK (jsonb_typeof(plan) = 'array'),
  model_retries_counted integer NOT NULL CHECK (model_retries_counted >= 0),
  features              jsonb NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX retry_decisions_invoice_idx ON retry_decisions (invoice_id);

-- Down Migration
DROP TABLE retry_decisions;
ALTER TABLE customers DROP COLUMN utc_offset_minutes;
DROP INDEX IF EXISTS invoices_customer_idx;
DROP INDEX payment_attempts_updated_idx;
ALTER TABLE payment_attempts DROP COLUMN card_type, DROP COLUMN attempted_at, DROP COLUMN retry_number, DROP COLUMN trigger;
