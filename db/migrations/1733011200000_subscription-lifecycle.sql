-- Up Migration

-- The subscription read model follows the lifecycle: seats, trial, pause, and the access a
-- customer has while a payment is being recovered (kept until access_ends_at, the end of the
-- grace period) or while a payment dispute is open (suspended).
ALTER TABLE subscriptions ADD COLUMN quantity integer NOT NULL DEFAULT 1 CHECK (quantity >= 1);
ALTER TABLE subscriptions ADD COLUMN trial_end timestamptz;
ALTER TABLE subscriptions ADD COLUMN paused_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN access_ends_at timestamptz;
ALTER TABLE subscriptions ADD COLUMN access_suspended boolean NOT NULL DEFAULT false;

-- Subscription invoices carry coupons (per line, like enterprise lines carry tax).
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS discount_amount bigint NOT NULL DEFAULT 0;
ALTER TABLE invoice_lines ADD COLUMN IF NOT EXISTS discount_description text;

-- A business customer's VAT/GST registration: with one, cross-border EU/UK sales are reverse charged.
ALTER TABLE customers ADD COLUMN vat_id text;

-- A coupon redeemed by a subscription (not only by a course order). No foreign key to
-- subscriptions: the API records the redemption before the workflow writes the subscription row.
ALTER TABLE coupon_redemptions ALTER COLUMN order_id DROP NOT NULL;
ALTER TABLE coupon_redemptions ADD COLUMN subscription_id text;
ALTER TABLE coupon_redemptions ADD CONSTRAINT coupon_redemptions_one_subject
  CHECK ((order_id IS NULL) <> (subscription_id IS NULL));
CREATE UNIQUE INDEX coupon_redemptions_subscription_idx ON coupon_redemptions (coupon_id, subscription_id)
  WHERE subscription_id IS NOT NULL;

-- Down Migration
DROP INDEX coupon_redemptions_subscription_idx;
ALTER TABLE coupon_redemptions DROP CONSTRAINT coupon_redemptions_one_subject;
ALTER TABLE coupon_redemptions DROP COLUMN subscription_id;
ALTER TABLE customers DROP COLUMN vat_id;
ALTER TABLE invoice_lines DROP COLUMN discount_description, DROP COLUMN discount_amount;
ALTER TABLE subscriptions DROP COLUMN access_suspended, DROP COLUMN access_ends_at, DROP COLUMN paused_at,
  DROP COLUMN trial_end, DROP COLUMN quantity;
