// The code a customer typed at checkout (a promotion code or a coupon id), looked up and checked
// for what it would discount; shared by course orders and subscriptions.
import type { CommonQueryMethods } from 'slonik';
import { findCouponForCode } from '../db/purchases';
import { checkCouponRedemption, redeemPromotionCode, type Coupon } from '../domain/discounts';
import type { Currency } from '../domain/money';
import { invalidField } from './errors';

export interface RedeemableCoupon {
  readonly coupon: Coupon;
  readonly promotionCode: string | null;
  /** Redemptions counted so far (a snapshot; placing the order or subscription enforces the limit again). */
  readonly couponRedemptions: number;
}

/** The coupon `couponCode` redeems at `at` for these products, or a 400 naming couponCode and why not. */
export async function redeemableCoupon(
  db: CommonQueryMethods,
  couponCode: string,
  context: { at: string; currency: Currency; productIds: readonly string[] },
): Promise<RedeemableCoupon> {
  const found = await findCouponForCode(db, couponCode);
  if (!found) throw invalidField('couponCode', `no coupon or promotion code '${couponCode}' exists`);
  const ctx = { ...context, couponRedemptions: found.couponRedemptions, codeRedemptions: found.codeRedemptions };
  const check = found.promotionCode
    ? redeemPromotionCode(found.promotionCode.code, [found.promotionCode], [found.coupon], ctx)
    : checkCouponRedemption(found.coupon, ctx);
  if (!check.ok) throw invalidField('couponCode', check.reason);
  return { coupon: check.coupon, promotionCode: found.promotionCode?.code ?? null, couponRedemptions: found.couponRedemptions };
}
