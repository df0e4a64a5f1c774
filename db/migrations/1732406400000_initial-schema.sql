-- Up Migration
-- Money is always an integer count of minor units (bigint) next to an ISO 4217 currency.

CREATE TABLE customers (
  id                 text PRIMARY KEY,
  email              text NOT NULL,
  name               text NOT NULL,
  country            char(2),
  stripe_customer_id text UNIQUE,
  created_at         timestamptz NOT NULL DEFAULT now()
);

-- Gateway tokens only. The check refuses anything that looks like a card number (a PAN is 12-19
-- digits, possibly spaced), so card data cannot be stored even by mistake.
CREATE TABLE payment_methods (
  id          bigserial PRIMARY KEY,
  customer_id text NOT NULL REFERENCES customers (id),
  gateway     text NOT NULL CHECK (gateway IN ('stripe', 'paypal')),
  token       text NOT NULL CHECK (token ~ '^[A-Za-z]+_[A-Za-z0-9_]+$'),
  is_default  boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now(),
  UNIQUE (customer_id, gateway, token)
);

CREATE TABLE subscriptions (
  id                   text PRIMARY KEY,
  customer_id          text NOT NULL REFERENCES customers (id),
  plan_id              text NOT NULL,
  price_id             text NOT NULL,
  billing_interval     text NOT NULL CHECK (billing_interval IN ('month', 'quarter', 'year')),
  unit_amount          bigint NOT NULL CHECK (unit_amount >= 0),
  currency             char(3) NOT NULL,
  catalog_version      integer NOT NULL,
  status               text NOT NULL CHECK (status IN ('incomplete', 'trialing', 'active', 'past_due', 'paused', 'canceled', 'unpaid')),
  anchor               timestamptz NOT NULL,
  current_period_start timestamptz,
  current_period_end   timestamptz,
  cancel_at_period_end boolean NOT NULL DEFAULT false,
  canceled_at          timestamptz,
  workflow_id          text NOT NULL UNIQUE,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX subscriptions_customer_idx ON subscriptions (customer_id);

-- Every lifecycle transition with its time and cause; seq is the workflow's own counter, so a
-- retried activity writes the same row once.
CREATE TABLE subscription_status_changes (
  subscription_id text NOT NULL REFERENCES subscriptions (id),
  seq             integer NOT NULL,
  from_status     text,
  to_status       text NOT NULL,
  cause           text NOT NULL,
  occurred_at     timestamptz NOT NULL,
  PRIMARY KEY (subscription_id, seq)
);

-- Sequential, gap-free invoice numbers per legal entity: the counter row is bumped inside the
-- same transaction that inserts the invoice, so a rollback gives the number back.
CREATE TABLE invoice_number_counters (
  legal_entity text PRIMARY KEY,
  prefix       text NOT NULL,
  next_number  bigint NOT NULL DEFAULT 1
);
INSERT INTO invoice_number_counters (legal_entity, prefix) VALUES ('default', 'DB');

CREATE TABLE invoices (
  id              text PRIMARY KEY,
  number          text NOT NULL UNIQUE,
  legal_entity    text NOT NULL REFERENCES invoice_number_counters (legal_entity),
  customer_id     text NOT NULL REFERENCES customers (id),
  subscription_id text REFERENCES subscriptions (id),
  status          text NOT NULL CHECK (status IN ('draft', 'open', 'paid', 'void', 'uncollectible')),
  currency        char(3) NOT NULL,
  subtotal        bigint NOT NULL,
  total           bigint NOT NULL,
  amount_paid     bigint NOT NULL DEFAULT 0 CHECK (amount_paid >= 0),
  issued_at       timestamptz NOT NULL,
  due_at          timestamptz NOT NULL,
  paid_at         timestamptz,
  period_start    timestamptz,
  period_end      timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX invoices_subscription_idx ON invoices (subscription_id, issued_at);

CREATE TABLE invoice_lines (
  invoice_id   text NOT NULL REFERENCES invoices (id),
  position     integer NOT NULL,
  description  text NOT NULL,
  period_start timestamptz,
  period_end   timestamptz,
  quantity     integer NOT NULL CHECK (quantity > 0),
  unit_amount  bigint NOT NULL,
  amount       bigint NOT NULL,
  PRIMARY KEY (invoice_id, position)
);

CREATE TABLE payment_attempts (
  idempotency_key   text PRIMARY KEY,
  invoice_id        text NOT NULL REFERENCES invoices (id),
  attempt           integer NOT NULL CHECK (attempt >= 1),
  gateway           text NOT NULL,
  amount            bigint NOT NULL CHECK (amount > 0),
  currency          char(3) NOT NULL,
  outcome           text NOT NULL CHECK (outcome IN ('pending', 'succeeded', 'declined', 'requires_action', 'gateway_error')),
  decline_code      text,
  gateway_reference text,
  error_message     text,
  latency_ms        integer,
  created_at        timestamptz NOT NULL DEFAULT now(),
  updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payment_attempts_invoice_idx ON payment_attempts (invoice_id);

-- Append-only double-entry ledger. Each entry's id names the business event it records, so a
-- repeated posting is refused by the primary key instead of doubling the books.
CREATE TABLE ledger_entries (
  id          text PRIMARY KEY,
  kind        text NOT NULL,
  currency    char(3) NOT NULL,
  invoice_id  text REFERENCES invoices (id),
  occurred_at timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE ledger_lines (
  entry_id text NOT NULL REFERENCES ledger_entries (id),
  position integer NOT NULL,
  account  text NOT NULL,
  debit    bigint NOT NULL CHECK (debit >= 0),
  credit   bigint NOT NULL CHECK (credit >= 0),
  CHECK (debit = 0 OR credit = 0),
  PRIMARY KEY (entry_id, position)
);
CREATE INDEX ledger_lines_account_idx ON ledger_lines (account);

CREATE FUNCTION refuse_ledger_change() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();
CREATE TRIGGER ledger_lines_append_only BEFORE UPDATE OR DELETE ON ledger_lines
  FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change();

-- Checked at commit, once all lines of an entry are in: debits must equal credits.
CREATE FUNCTION check_entry_balanced() RETURNS trigger AS $$
DECLARE
  imbalance bigint;
BEGIN
  SELECT coalesce(sum(debit), 0) - coalesce(sum(credit), 0) INTO imbalance
    FROM ledger_lines WHERE entry_id = NEW.entry_id;
  IF imbalance <> 0 THEN
    RAISE EXCEPTION 'ledger entry % does not balance (debits - credits = %)', NEW.entry_id, imbalance;
  END IF;
  RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE CONSTRAINT TRIGGER ledger_lines_balanced AFTER INSERT ON ledger_lines
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION check_entry_balanced();

CREATE TABLE webhook_events (
  id           text PRIMARY KEY, -- the gateway's own event id: stored once
  gateway      text NOT NULL,
  type         text NOT NULL,
  payload      jsonb NOT NULL,
  received_at  timestamptz NOT NULL DEFAULT now(),
  signaled_at  timestamptz
);

CREATE TABLE api_keys (
  id          text PRIMARY KEY,
  name        text NOT NULL,
  secret_hash text NOT NULL, -- sha256 of the secret; the secret itself is shown once, never stored
  scopes      text[] NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  revoked_at  timestamptz
);

-- Idempotency-Key header: a retried POST maps to the resource the first one created.
CREATE TABLE api_idempotency_keys (
  api_key_id    text NOT NULL REFERENCES api_keys (id),
  key           text NOT NULL,
  request_hash  text NOT NULL,
  resource_type text NOT NULL,
  resource_id   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (api_key_id, key)
);

-- Down Migration
DROP TABLE api_idempotency_keys, api_keys, webhook_events, ledger_lines, ledger_entries,
  payment_attempts, invoice_lines, invoices, invoice_number_counters, subscription_status_changes,
  subscriptions, payment_methods, customers;
DROP FUNCTION check_entry_balanced();
DROP FUNCTION refuse_ledger_change();
