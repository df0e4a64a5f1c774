// Pricing an order of self-paced courses: list prices, the bundle tier, one coupon, then tax,
// in that order (the stacking rule in domain/discounts.ts). Tax comes last so that it is
// charged on what the customer actually pays.
import { courseEntitlement, lookupCoursePrice, type BundleTier } from './catalog';
import { applyBundleTier, applyCoupon, bundleTierFor, checkCouponRedemption, type Coupon } from './discounts';
import type { InvoiceLine } from './invoice';
import { invoiceTotals, type InvoiceTotals } from './invoice-totals';
import type { Currency } from './money';
import { applyTaxToLines, type TaxTreatment } from './tax';

export interface CourseOrderRequest {
  readonly courseIds: readonly string[];
  readonly currency: Currency;
  readonly at: string;
  readonly coupon?: Coupon | null;
  /** Times the coupon was redeemed before this order, for its redemption limit. */
  readonly couponRedemptions?: number;
  readonly tax?: TaxTreatment;
}

export type CourseOrderPricing =
  | {
      readonly ok: true;
      readonly lines: readonly InvoiceLine[];
      readonly totals: InvoiceTotals;
      readonly bundleTier: BundleTier | null;
      readonly coupon: Coupon | null;
      /** Granted once the order (or its first installment) is paid. */
      readonly entitlements: readonly string[];
    }
  | { readonly ok: false; readonly reason: string };

export function priceCourseOrder(order: CourseOrderRequest): CourseOrderPricing {
  if (order.courseIds.length === 0) return { ok: false, reason: 'an order needs at least one course' };
  const duplicate = order.courseIds.find((id, i) => order.courseIds.indexOf(id) !== i);
  if (duplicate) return { ok: false, reason: `course '${duplicate}' is listed twice; each course is bought once` };

  let lines: InvoiceLine[] = [];
  for (const courseId of order.courseIds) {
    const lookup = lookupCoursePrice(courseId, order.currency);
    if (!lookup.ok) return { ok: false, reason: lookup.reason };
    lines.push({
      description: `${lookup.price.courseName} (self-paced course)`,
      periodStart: null,
      periodEnd: null,
      quantity: 1,
      unitAmount: lookup.price.unitAmount,
      amount: lookup.price.unitAmount,
    });
  }

  const bundleTier = bundleTierFor(order.courseIds.length);
  lines = applyBundleTier(lines, bundleTier, order.currency);

  const coupon = order.coupon ?? null;
  if (coupon) {
    const check = checkCouponRedemption(coupon, {
      at: order.at,
      currency: order.currency,
      productIds: ['course'],
      couponRedemptions: order.couponRedemptions ?? 0,
    });
    if (!check.ok) return { ok: false, reason: check.reason };
    lines = applyCoupon(lines, coupon, order.currency);
  }

  if (order.tax) lines = applyTaxToLines(lines, order.tax);
  return {
    ok: true,
    lines,
    totals: invoiceTotals(lines),
    bundleTier,
    coupon,
    entitlements: order.courseIds.map(courseEntitlement),
  };
}
