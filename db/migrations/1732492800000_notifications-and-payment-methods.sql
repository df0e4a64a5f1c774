-- Up Migration

-- Notices to customers and operators go through an outbox: the row is written (once, keyed by
-- the notice's idempotency key) by the activity that decides to notify, and a sender delivers
-- it. A retried or replayed activity writes the same key and so never sends a second email.
CREATE TABLE notification_outbox (
  idempotency_key text PRIMARY KEY,
  kind            text NOT NULL,
  recipient       text NOT NULL,
  subject         text NOT NULL,
  body            text NOT NULL,
  customer_id     text REFERENCES customers (id),
  invoice_id      text REFERENCES invoices (id),
  send_after      timestamptz NOT NULL DEFAULT now(),
  created_at      timestamptz NOT NULL DEFAULT now(),
  sent_at         timestamptz,
  attempts        integer NOT NULL DEFAULT 0,
  last_error      text
);
CREATE INDEX notification_outbox_unsent_idx ON notification_outbox (send_after) WHERE sent_at IS NULL;

-- A customer may hold several payment methods: one default, any number of backups.
ALTER TABLE payment_methods ADD COLUMN role text NOT NULL DEFAULT 'backup' CHECK (role IN ('default', 'backup'));
UPDATE payment_methods SET role = 'default' WHERE is_default;
ALTER TABLE payment_methods ADD COLUMN card_expires_on date;
ALTER TABLE payment_methods ADD COLUMN detached_at timestamptz;
CREATE UNIQUE INDEX payment_methods_one_default_idx ON payment_methods (customer_id) WHERE role = 'default' AND detached_at IS NULL;

ALTER TABLE payment_attempts ADD COLUMN payment_method_token text;
ALTER TABLE payment_attempts ADD COLUMN retry_reason text;

-- Down Migration
ALTER TABLE payment_attempts DROP COLUMN retry_reason, DROP COLUMN payment_method_token;
DROP INDEX payment_methods_one_default_idx;
ALTER TABLE payment_methods DROP COLUMN detached_at, DROP COLUMN card_expires_on, DROP COLUMN role;
DROP TABLE notification_outbox;
