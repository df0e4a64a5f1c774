// Coupons, promotion codes and course bundle tiers.
//
// STACKING RULE (the one rule; see STACKING_RULE below for the customer-facing sentence):
//   1. At most one coupon per purchase or subscription; a promotion code is a way to redeem a
//      coupon, so a code and a coupon never stack either.
//   2. The bundle tier applies first, to the sum of the courses' list prices.
//   3. The coupon applies second, to what is left after the bundle discount. Percentages
//      therefore compound rather than add: 20% bundle then 10% coupon is 28% off, not 30%.
//   4. An amount-off coupon takes at most what is left; a line never goes below zero.
//   5. Each discount is computed once on the order's total (one rounding, by percentOf) and
//      then spread over the lines by cumulative rounding (domain/allocation), so the lines'
//      discounts add up to exactly the discount the customer was told.
import { allocateByWeights } from './allocation';
import { COURSE_BUNDLE_TIERS, type BundleTier } from './catalog';
import type { InvoiceLine } from './invoice';
import { money, percentOf, type Currency } from './money';
import { formatRate } from './tax';

export const STACKING_RULE =
  'One coupon per purchase. Bundle discounts apply first, then the coupon applies to the discounted price; discounts never take a price below zero.';

export type CouponDiscount =
  | { readonly kind: 'percent'; readonly basisPoints: number } // 10% = 1000
  | { readonly kind: 'amount'; readonly amounts: Readonly<Partial<Record<Currency, number>>> };

export type CouponDuration =
  | { readonly kind: 'once' }
  | { readonly kind: 'repeating'; readonly periods: number }
  | { readonly kind: 'forever' };

export interface Coupon {
  readonly id: string;
  readonly name: string;
  readonly discount: CouponDiscount;
  /** How many billing periods of a subscription it discounts; one-time purchases use it once. */
  readonly duration: CouponDuration;
  /** Last instant it can be redeemed (exclusive); null or absent: no expiry. */
  readonly redeemBy?: string | null;
  readonly maxRedemptions?: number | null;
  /** Plan or product ids it may be used for ('community', 'course', ...); null or absent: any. */
  readonly appliesTo?: readonly string[] | null;
}

/** A customer-facing code that redeems a coupon, with its own expiry and redemption limit. */
export interface PromotionCode {
  readonly code: string;
  readonly couponId: string;
  readonly active: boolean;
  readonly expiresAt?: string | null;
  readonly maxRedemptions?: number | null;
}

export interface RedemptionContext {
  readonly at: string;
  readonly currency: Currency;
  /** What the coupon would discount: plan ids for subscriptions, 'course' for course orders. */
  readonly productIds: readonly string[];
  /** Times the coupon has been redeemed before this one. */
  readonly couponRedemptions: number;
  /** Times the promotion code has been redeemed before this one (codes only). */
  readonly codeRedemptions?: number;
}

export type CouponCheck = { readonly ok: true; readonly coupon: Coupon } | { readonly ok: false; readonly reason: string };

/** Whether a coupon may be redeemed now for these products, and if not, why, in a sentence. */
export function checkCouponRedemption(coupon: Coupon, ctx: RedemptionContext): CouponCheck {
  const invalid = couponDefinitionProblem(coupon);
  if (invalid) return { ok: false, reason: `coupon ${coupon.id} is misconfigured: ${invalid}` };
  if (coupon.redeemBy && Date.parse(ctx.at) >= Date.parse(coupon.redeemBy)) {
    return { ok: false, reason: `coupon ${coupon.id} expired on ${coupon.redeemBy.slice(0, 10)}` };
  }
  if (coupon.maxRedemptions != null && ctx.couponRedemptions >= coupon.maxRedemptions) {
    return { ok: false, reason: `coupon ${coupon.id} has reached its limit of ${coupon.maxRedemptions} redemptions` };
  }
  const allowed = coupon.appliesTo;
  if (allowed) {
    const excluded = ctx.productIds.filter((id) => !allowed.includes(id));
    if (excluded.length > 0) {
      return { ok: false, reason: `coupon ${coupon.id} does not apply to ${excluded.join(', ')}; it is for ${allowed.join(', ')} only` };
    }
  }
  if (coupon.discount.kind === 'amount' && coupon.discount.amounts[ctx.currency] === undefined) {
    return { ok: false, reason: `coupon ${coupon.id} has no ${ctx.currency} amount` };
  }
  return { ok: true, coupon };
}

/** Redeeming a promotion code: the code's own limits first, then its coupon's. Codes match case-insensitively. */
export function redeemPromotionCode(
  code: string,
  codes: readonly PromotionCode[],
  coupons: readonly Coupon[],
  ctx: RedemptionContext,
): CouponCheck {
  const wanted = code.trim().toUpperCase();
  const promotion = codes.find((c) => c.code.toUpperCase() === wanted);
  if (!promotion) return { ok: false, reason: `promotion code ${wanted} does not exist` };
  if (!promotion.active) return { ok: false, reason: `promotion code ${promotion.code} is no longer active` };
  if (promotion.expiresAt && Date.parse(ctx.at) >= Date.parse(promotion.expiresAt)) {
    return { ok: false, reason: `promotion code ${promotion.code} expired on ${promotion.expiresAt.slice(0, 10)}` };
  }
  if (promotion.maxRedemptions != null && (ctx.codeRedemptions ?? 0) >= promotion.maxRedemptions) {
    return { ok: false, reason: `promotion code ${promotion.code} has reached its limit of ${promotion.maxRedemptions} redemptions` };
  }
  const coupon = coupons.find((c) => c.id === promotion.couponId);
  if (!coupon) return { ok: false, reason: `promotion code ${promotion.code} points to a coupon that does not exist` };
  return checkCouponRedemption(coupon, ctx);
}

function couponDefinitionProblem(coupon: Coupon): string | null {
  const d = coupon.discount;
  if (d.kind === 'percent' && (!Number.isSafeInteger(d.basisPoints) || d.basisPoints <= 0 || d.basisPoints > 10_000)) {
    return 'a percentage must be between 0.01% and 100%';
  }
  if (d.kind === 'amount' && Object.values(d.amounts).some((a) => !Number.isSafeInteger(a) || a <= 0)) {
    return 'amounts must be positive whole minor units';
  }
  if (coupon.duration.kind === 'repeating' && (!Number.isSafeInteger(coupon.duration.periods) || coupon.duration.periods < 1)) {
    return 'a repeating coupon needs at least one period';
  }
  return null;
}

/**
 * Whether a subscription's invoice for the n-th period since redemption (0 = the period the
 * coupon was redeemed for) is discounted.
 */
export function couponAppliesToPeriod(coupon: Coupon, periodsSinceRedemption: number): boolean {
  if (!Number.isInteger(periodsSinceRedemption) || periodsSinceRedemption < 0) return false;
  switch (coupon.duration.kind) {
    case 'once':
      return periodsSinceRedemption === 0;
    case 'repeating':
      return periodsSinceRedemption < coupon.duration.periods;
    case 'forever':
      return true;
  }
}

/** The coupon's discount on an amount, never more than the amount itself. */
export function couponDiscountOn(coupon: Coupon, amount: number, currency: Currency): number {
  if (amount <= 0) return 0;
  if (coupon.discount.kind === 'percent') return percentOf(money(amount, currency), coupon.discount.basisPoints).amount;
  const off = coupon.discount.amounts[currency];
  if (off === undefined) throw new RangeError(`coupon ${coupon.id} has no ${currency} amount`);
  return Math.min(off, amount);
}

/** The tier with the highest minimum the course count reaches, or null below the first tier. */
export function bundleTierFor(courseCount: number, tiers: readonly BundleTier[] = COURSE_BUNDLE_TIERS): BundleTier | null {
  return tiers.filter((t) => courseCount >= t.minCourses).reduce<BundleTier | null>((best, t) => (!best || t.minCourses > best.minCourses ? t : best), null);
}

/** What the lines still cost after the discounts already on them (only positive lines are discounted). */
function discountableAmounts(lines: readonly InvoiceLine[]): number[] {
  return lines.map((l) => Math.max(0, l.amount - (l.discountAmount ?? 0)));
}

/** Spreads a discount total over the lines in proportion to what each still costs. */
export function spreadDiscount(lines: readonly InvoiceLine[], discount: number, description: string): InvoiceLine[] {
  if (discount === 0) return [...lines];
  const shares = allocateByWeights(discount, discountableAmounts(lines));
  return lines.map((line, i) => {
    const share = shares[i] ?? 0;
    if (share === 0) return line;
    return {
      ...line,
      discountAmount: (line.discountAmount ?? 0) + share,
      discountDescription: line.discountDescription ? `${line.discountDescription}; ${description}` : description,
    };
  });
}

export function applyBundleTier(lines: readonly InvoiceLine[], tier: BundleTier | null, currency: Currency): InvoiceLine[] {
  if (!tier) return [...lines];
  const base = discountableAmounts(lines).reduce((s, a) => s + a, 0);
  const discount = percentOf(money(base, currency), tier.basisPoints).amount;
  return spreadDiscount(lines, discount, `Bundle of ${tier.minCourses}+ courses: ${formatRate(tier.basisPoints)} off`);
}

/** Applies a (checked) coupon to what the lines still cost, after any bundle discount. */
export function applyCoupon(lines: readonly InvoiceLine[], coupon: Coupon, currency: Currency): InvoiceLine[] {
  const base = discountableAmounts(lines).reduce((s, a) => s + a, 0);
  const discount = couponDiscountOn(coupon, base, currency);
  const what = coupon.discount.kind === 'percent' ? `${formatRate(coupon.discount.basisPoints)} off` : 'amount off';
  return spreadDiscount(lines, discount, `Coupon ${coupon.id}: ${what}`);
}

/** A subscription invoice's lines with the coupon applied when its duration covers this period. */
export function applyCouponForPeriod(
  lines: readonly InvoiceLine[],
  coupon: Coupon | null,
  periodsSinceRedemption: number,
  currency: Currency,
): InvoiceLine[] {
  if (!coupon || !couponAppliesToPeriod(coupon, periodsSinceRedemption)) return [...lines];
  return applyCoupon(lines, coupon, currency);
}
