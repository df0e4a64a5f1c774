-- Up Migration

-- Tax on invoices and their lines. The invoice's tax is the sum of its lines' tax (see
-- domain/tax.ts); lines without tax keep the defaults. `unit` says whether a line is priced per
-- seat; null on lines that are not enterprise contract items.
ALTER TABLE invoices ADD COLUMN IF NOT EXISTS tax bigint NOT NULL DEFAULT 0;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS tax_amount bigint NOT NULL DEFAULT 0;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS tax_rate_basis_points integer;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS tax_label text;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS unit text CHECK (unit IN ('seat', 'item'));

-- An enterprise invoice on NET terms, one per workflow. invoices.status stays 'open' until it is
-- paid in full ('paid') or voided ('void'); the collection status here also says whether it is
-- partially paid or past due, as the workflow decided.
CREATE TABLE enterprise_invoices (
  invoice_id        text PRIMARY KEY REFERENCES invoices (id),
  contract_id       text NOT NULL,
  workflow_id       text NOT NULL UNIQUE,
  term_months       integer NOT NULL CHECK (term_months >= 1),
  net_days          integer NOT NULL CHECK (net_days >= 0),
  tax_country       char(2),
  collection_status text NOT NULL CHECK (collection_status IN ('open', 'partially_paid', 'past_due', 'paid', 'void')),
  past_due_at       timestamptz,
  voided_at         timestamptz,
  void_reason       text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX enterprise_invoices_contract_idx ON enterprise_invoices (contract_id);

-- Payments towards an invoice (bank transfers recorded by hand, card payments charged through
-- the gateway). The payer's reference is unique per invoice, so the same transfer recorded twice
-- is refused; the id names the ledger entry (je_payment_<id>).
CREATE TABLE invoice_payments (
  id                text PRIMARY KEY,
  invoice_id        text NOT NULL REFERENCES invoices (id),
  reference         text NOT NULL,
  method            text NOT NULL CHECK (method IN ('bank_transfer', 'card')),
  amount            bigint NOT NULL CHECK (amount > 0),
  currency          char(3) NOT NULL,
  received_at       timestamptz NOT NULL,
  gateway           text,
  gateway_reference text,
  created_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (invoice_id, reference)
);

-- Down Migration
DROP TABLE invoice_payments, enterprise_invoices;
ALTER TABLE invoice_lines DROP COLUMN unit, DROP COLUMN tax_label, DROP COLUMN tax_rate_basis_points, DROP COLUMN tax_amount;
ALTER TABLE invoices DROP COLUMN tax;
