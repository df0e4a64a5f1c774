-- Up Migration

-- Delivery state of the outbox. A sender claims due rows for a lease (claimed_until, with a
-- token so only the claimant records the outcome); another sender skips a claimed row until the
-- lease runs out, which only happens when the claimant died mid-send. A notice that was no longer
-- wanted (the dunning recovered) is canceled, one that kept failing is given up (failed_at), and
-- both stay in the table as the record of what was not sent and why.
ALTER TABLE notification_outbox
  ADD COLUMN canceled_at   timestamptz,
  ADD COLUMN failed_at     timestamptz,
  ADD COLUMN message_id    text,
  ADD COLUMN claimed_until timestamptz,
  ADD COLUMN claim_token   text;

-- What the senders poll: due, not yet sent, still wanted, not given up.
DROP INDEX notification_outbox_unsent_idx;
CREATE INDEX notification_outbox_pending_idx ON notification_outbox (send_after)
  WHERE sent_at IS NULL AND canceled_at IS NULL AND failed_at IS NULL;
CREATE INDEX notification_outbox_invoice_idx ON notification_outbox (invoice_id) WHERE invoice_id IS NOT NULL;
CREATE INDEX notification_outbox_customer_idx ON notification_outbox (customer_id) WHERE customer_id IS NOT NULL;

-- How a card-expiring notice names the card: brand and last four digits, as the gateway reports
-- them. Never more: the check refuses anything but exactly four digits, so a card number cannot
-- land here by mistake. Rows saved before the gateway reported them stay NULL.
ALTER TABLE payment_methods
  ADD COLUMN IF NOT EXISTS card_brand text CHECK (card_brand ~ '^[A-Za-z][A-Za-z ]{0,23}$'),
  ADD COLUMN IF NOT EXISTS card_last4 text CHECK (card_last4 ~ '^[0-9]{4}$');

-- Down Migration
ALTER TABLE payment_methods DROP COLUMN IF EXISTS card_last4, DROP COLUMN IF EXISTS card_brand;
DROP INDEX notification_outbox_customer_idx;
DROP INDEX notification_outbox_invoice_idx;
DROP INDEX notification_outbox_pending_idx;
CREATE INDEX notification_outbox_unsent_idx ON notification_outbox (send_after) WHERE sent_at IS NULL;
ALTER TABLE notification_outbox
  DROP COLUMN claim_token, DROP COLUMN claimed_until, DROP COLUMN message_id, DROP COLUMN failed_at, DROP COLUMN canceled_at;
