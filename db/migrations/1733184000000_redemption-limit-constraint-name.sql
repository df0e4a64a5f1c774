-- Up Migration

-- The redemption-limit backstop names itself (CONSTRAINT = 'coupon_redemption_limit'), so a
-- writer can tell a limit reached from any other check violation without reading the message.
CREATE OR REPLACE FUNCTION enforce_redemption_limits() RETURNS trigger AS $$
DECLARE
  redemption_limit integer;
  used bigint;
BEGIN
  SELECT max_redemptions INTO redemption_limit FROM coupons WHERE id = NEW.coupon_id FOR UPDATE;
  IF redemption_limit IS NOT NULL THEN
    SELECT count(*) INTO used FROM coupon_redemptions WHERE coupon_id = NEW.coupon_id;
    IF used >= redemption_limit THEN
      RAISE EXCEPTION 'coupon % has reached its limit of % redemptions', NEW.coupon_id, redemption_limit
        USING ERRCODE = 'check_violation', CONSTRAINT = 'coupon_redemption_limit';
    END IF;
  END IF;
  IF NEW.promotion_code IS NOT NULL THEN
    SELECT max_redemptions INTO redemption_limit FROM promotion_codes WHERE code = NEW.promotion_code FOR UPDATE;
    IF redemption_limit IS NOT NULL THEN
      SELECT count(*) INTO used FROM coupon_redemptions WHERE promotion_code = NEW.promotion_code;
      IF used >= redemption_limit THEN
        RAISE EXCEPTION 'promotion code % has reached its limit of % redemptions', NEW.promotion_code, redemption_limit
          USING ERRCODE = 'check_violation', CONSTRAINT = 'coupon_redemption_limit';
      END IF;
    END IF;
  END IF;
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

-- Down Migration

CREATE OR REPLACE FUNCTION enforce_redemption_limits() RETURNS trigger AS $$
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
