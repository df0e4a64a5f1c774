-- Up Migration
-- Credit notes (credits without money moving, and refunds: a credit note settled in cash through
-- the gateway that took the payment) and disputes recorded on payments.

-- What has been credited and paid back on an invoice, kept next to amount_paid so that what is
-- still owed (total - amount_paid - amount_credited on an open invoice) reads from one row.
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS amount_credited bigint NOT NULL DEFAULT 0 CHECK (amount_credited >= 0);
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS amount_refunded bigint NOT NULL DEFAULT 0 CHECK (amount_refunded >= 0);

-- Credit notes are numbered like invoices: gap-free per legal entity, in their own series
-- ("DB-CN-000001"), the counter bumped in the transaction that issues the note.
CREATE TABLE credit_note_number_counters (
  legal_entity text PRIMARY KEY REFERENCES invoice_number_counters (legal_entity),
  prefix       text NOT NULL,
  next_number  bigint NOT NULL DEFAULT 1
);
INSERT INTO credit_note_number_counters (legal_entity, prefix)
  SELECT legal_entity, prefix || '-CN' FROM invoice_number_counters;

-- A refund is written 'pending' before the gateway is asked (its id is the gateway's idempotency
-- key), then 'succeeded' with its number and ledger entries, or 'failed' with the gateway's
-- reason. A pending row holds its amount so that two refunds can never exceed what was paid.
-- A credit without money is issued in one transaction: it is 'succeeded' from the start.
CREATE TABLE credit_notes (
  id                  text PRIMARY KEY,
  number              text UNIQUE,
  legal_entity        text NOT NULL REFERENCES invoice_number_counters (legal_entity),
  invoice_id          text NOT NULL REFERENCES invoices (id),
  kind                text NOT NULL CHECK (kind IN ('credit', 'refund')),
  status              text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
  reason              text NOT NULL,
  memo                text,
  currency            char(3) NOT NULL,
  amount              bigint NOT NULL CHECK (amount > 0), -- tax included
  -- Known once issued: the tax share (cumulative rounding, domain/credit-notes.ts) and how the
  -- amount was settled: less to pay, cash back, or the customer's credit balance.
  tax                 bigint CHECK (tax >= 0),
  reduced_amount_due  bigint CHECK (reduced_amount_due >= 0),
  refunded            bigint CHECK (refunded >= 0),
  credited_to_balance bigint CHECK (credited_to_balance >= 0),
  -- Refunds: the gateway that took the payment and the payment there (PaymentIntent, capture),
  -- and the gateway's refund once it answered.
  gateway             text CHECK (gateway IN ('stripe', 'paypal')),
  gateway_reference   text,
  refund_reference    text,
  idempotency_key     text NOT NULL UNIQUE,
  failure_code        text,
  failure_message     text,
  created_at          timestamptz NOT NULL DEFAULT now(),
  issued_at           timestamptz,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'succeeded') = (number IS NOT NULL AND issued_at IS NOT NULL AND tax IS NOT NULL)),
  CHECK (status <> 'succeeded' OR reduced_amount_due + refunded + credited_to_balance = amount),
  CHECK (kind = 'credit' OR (gateway IS NOT NULL AND gateway_reference IS NOT NULL)),
  CHECK (kind = 'refund' OR (status = 'succeeded' AND refunded = 0))
);
CREATE INDEX credit_notes_invoice_idx ON credit_notes (invoice_id, created_at);
CREATE INDEX credit_notes_payment_idx ON credit_notes (gateway_reference) WHERE gateway_reference IS NOT NULL;

-- Disputes (chargebacks) as the gateway reports them, on the payment they are about. Events are
-- applied in the gateway's order (last_event_at), whatever order they are delivered in; a lost
-- dispute is booked in the ledger once (je_dispute_lost_<id>).
CREATE TABLE disputes (
  id                text PRIMARY KEY, -- the gateway's dispute id (Stripe dp_..., PayPal PP-D-...)
  gateway           text NOT NULL CHECK (gateway IN ('stripe', 'paypal')),
  payment_reference text,
  invoice_id        text REFERENCES invoices (id),
  status            text NOT NULL CHECK (status IN ('open', 'won', 'lost')),
  gateway_status    text,
  reason            text,
  currency          char(3),
  amount            bigint CHECK (amount >= 0),
  fee               bigint NOT NULL DEFAULT 0 CHECK (fee >= 0),
  opened_at         timestamptz NOT NULL,
  closed_at         timestamptz,
  last_event_at     timestamptz NOT NULL,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now(),
  CHECK ((status = 'open') = (closed_at IS NULL))
);
CREATE INDEX disputes_payment_idx ON disputes (payment_reference);
CREATE INDEX disputes_invoice_idx ON disputes (invoice_id);

-- Down Migration
DROP TABLE disputes, credit_notes, credit_note_number_counters;
ALTER TABLE invoices DROP COLUMN amount_refunded, DROP COLUMN amount_credited;
