-- Up Migration
-- One-time course purchases: coupons and promotion codes, orders with their items and payment
-- plan installments, coupon redemptions (limited atomically), and course access grants.

CREATE TABLE coupons (
  id                       text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_-]{1,64}$'),
  name                     text NOT NULL,
  -- Exactly one kind of discount: a percentage (basis points, 10% = 1000) or amounts per currency.
  percent_off_basis_points integer CHECK (percent_off_basis_points BETWEEN 1 AND 10000),
  amounts_off              jsonb CHECK (amounts_off IS NULL OR jsonb_typeof(amounts_off) = 'object'),
  duration                 text NOT NULL CHECK (duration IN ('once', 'repeating', 'forever')),
  duration_periods         integer,
  redeem_by                timestamptz, -- exclusive
  max_redemptions          integer CHECK (max_redemptions > 0),
  applies_to               text[], -- plan/product ids ('course', 'community', ...); NULL: any
  created_at               timestamptz NOT NULL DEFAULT now(),
  CHECK ((percent_off_basis_points IS NULL) <> (amounts_off IS NULL)),
  CHECK ((duration = 'repeating') = (duration_periods IS NOT NULL)),
  CHECK (duration_periods IS NULL OR duration_periods >= 1)
);

-- Customer-facing codes that redeem a coupon, with their own expiry and limit. Stored upper-case:
-- codes match case-insensitively.
CREATE TABLE promotion_codes (
  code            text PRIMARY KEY CHECK (code ~ '^[A-Z0-9_-]{1,64}$'),
  coupon_id       text NOT NULL REFERENCES coupons (id),
  active          boolean NOT NULL DEFAULT true,
  expires_at      timestamptz,
  max_redemptions integer CHECK (max_redemptions > 0),
  created_at      timestamptz NOT NULL DEFAULT now()
);

-- An order is written once it is placed (priced, coupon redeemed); a refused order writes nothing.
CREATE TABLE orders (
  id                   text PRIMARY KEY,
  customer_id          text NOT NULL REFERENCES customers (id),
  status               text NOT NULL CHECK (status IN ('pending', 'active', 'past_due', 'paid', 'unpaid')),
  currency             char(3) NOT NULL,
  payment_plan         text NOT NULL, -- 'pay_in_full' or an installment plan id
  subtotal             bigint NOT NULL CHECK (subtotal >= 0),
  discount             bigint NOT NULL CHECK (discount >= 0 AND discount <= subtotal),
  total                bigint NOT NULL CHECK (total >= 0),
  bundle_basis_points  integer,
  coupon_id            text REFERENCES coupons (id),
  promotion_code       text REFERENCES promotion_codes (code),
  payment_method_token text NOT NULL CHECK (payment_method_token ~ '^[A-Za-z]+_[A-Za-z0-9_]+$'),
  ordered_at           timestamptz NOT NULL,
  workflow_id          text NOT NULL UNIQUE,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id);

CREATE TABLE order_items (
  order_id        text NOT NULL REFERENCES orders (id),
  position        integer NOT NULL,
  course_id       text NOT NULL,
  price_id        text NOT NULL,
  catalog_version integer NOT NULL,
  unit_amount     bigint NOT NULL CHECK (unit_amount >= 0),
  discount_amount bigint NOT NULL CHECK (discount_amount >= 0 AND discount_amount <= unit_amount),
  amount          bigint NOT NULL, -- what the buyer pays for this course: unit_amount - discount_amount
  PRIMARY KEY (order_id, position),
  UNIQUE (order_id, course_id),
  CHECK (amount = unit_amount - discount_amount)
);

-- The payment schedule: one row for pay in full, one per installment otherwise. Installments
-- stay due whatever happens to access; each is billed on its own invoice when it falls due.
CREATE TABLE order_installments (
  order_id          text NOT NULL REFERENCES orders (id),
  installment_index integer NOT NULL CHECK (installment_index >= 0),
  due_at            timestamptz NOT NULL,
  amount            bigint NOT NULL CHECK (amount >= 0),
  status            text NOT NULL DEFAULT 'scheduled' CHECK (status IN ('scheduled', 'paid', 'past_due', 'unpaid')),
  invoice_id        text REFERENCES invoices (id),
  attempts          integer NOT NULL DEFAULT 0,
  paid_at           timestamptz,
  PRIMARY KEY (order_id, installment_index)
);

-- One row per coupon per order. The limit check runs under a lock on the coupon's (and the
-- promotion code's) row, so concurrent orders can never redeem past max_redemptions.
CREATE TABLE coupon_redemptions (
  id             bigserial PRIMARY KEY,
  coupon_id      text NOT NULL REFERENCES coupons (id),
  promotion_code text REFERENCES promotion_codes (code),
  order_id       text NOT NULL REFERENCES orders (id),
  customer_id    text NOT NULL REFERENCES customers (id),
  redeemed_at    timestamptz NOT NULL,
  UNIQUE (coupon_id, order_id)
);
CREATE INDEX coupon_redemptions_code_idx ON coupon_redemptions (promotion_code) WHERE promotion_code IS NOT NULL;

-- Backstop for every writer: a redemption past a limit is refused by the database itself.
CREATE FUNCTION enforce_redemption_limits() RETURNS trigger AS $$
DECLARE
  redemption_limit integer;
  used bigint;
BEGIN
  SELECT max_redemptions INTO redemption_limit FROM coupons WHERE id = NEW.coupon_id FOR UPDATE;
  IF redemption_limit IS NOT NULL THEN
    SELECT count(*) INTO used FROM coupon_redemptions WHERE coupon_id = NEW.coupon_id;
    IF used >= redemption_limit THEN
      RAISE EXCEPTION 'coupon % has reached its limit of % redemptions', NEW.coupon_id, redemption_limit
        USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  IF NEW.promotion_code IS NOT NULL THEN
    SELECT max_redemptions INTO redemption_limit FROM promotion_codes WHERE code = NEW.promotion_code FOR UPDATE;
    IF redemption_limit IS NOT NULL THEN
      SELECT count(*) INTO used FROM coupon_redemptions WHERE promotion_code = NEW.promotion_code;
      IF used >= redemption_limit THEN
        RAISE EXCEPTION 'promotion code % has reached its limit of % redemptions', NEW.promotion_code, redemption_limit
          USING ERRCODE = 'check_violation';
      END IF;
    END IF;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER coupon_redemptions_limits BEFORE INSERT ON coupon_redemptions
  FOR EACH ROW EXECUTE FUNCTION enforce_redemption_limits();

-- Course access: granted when an order's first payment succeeds; revoked (never deleted) when
-- the buyer cancels access or a payment plan ends unpaid.
CREATE TABLE course_access_grants (
  order_id      text NOT NULL REFERENCES orders (id),
  course_id     text NOT NULL,
  customer_id   text NOT NULL REFERENCES customers (id),
  entitlement   text NOT NULL,
  granted_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  revoke_reason text,
  PRIMARY KEY (order_id, course_id),
  CHECK (revoked_at IS NULL OR revoked_at >= granted_at),
  CHECK ((revoked_at IS NULL) = (revoke_reason IS NULL))
);
CREATE INDEX course_access_grants_customer_idx ON course_access_grants (customer_id);

-- Down Migration
DROP TABLE course_access_grants, coupon_redemptions, order_installments, order_items, orders, promotion_codes, coupons;
DROP FUNCTION enforce_redemption_limits();
