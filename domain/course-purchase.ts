// Quoting an order of self-paced courses with its payment plan: the courses, the bundle tier,
// the coupon (domain/discounts.ts STACKING_RULE: bundle first, then the coupon on what is left),
// and the payment schedule (pay in full now, or an installment plan from domain/installments).
// The API quotes to validate a request (answering which field is wrong); the order workflow
// quotes the same input again to decide what to bill, so both always agree.
import { COURSES, INSTALLMENT_PLANS, lookupCoursePrice, type BundleTier } from './catalog';
import { priceCourseOrder } from './course-orders';
import { checkCouponRedemption, STACKING_RULE, type Coupon } from './discounts';
import type { InvoiceLine } from './invoice';
import type { InvoiceTotals } from './invoice-totals';
import { buildInstallmentSchedule, type Installment } from './installments';
import type { Currency } from './money';

export const PAY_IN_FULL = 'pay_in_full';
/** 'pay_in_full' or an installment plan id from the catalog (e.g. 'course-3-monthly'). */
export type PaymentPlanId = string;

export function paymentPlanIds(): string[] {
  return [PAY_IN_FULL, ...INSTALLMENT_PLANS.filter((p) => p.productIds.includes('course')).map((p) => p.id)];
}

export interface CoursePurchaseRequest {
  readonly orderId: string;
  readonly courseIds: readonly string[];
  readonly currency: Currency;
  /** The order's instant: prices, coupon expiry and the first payment's due date. */
  readonly at: string;
  readonly coupon?: Coupon | null;
  /** Redemptions before this order; the database enforces the limit again, atomically. */
  readonly couponRedemptions?: number;
  readonly paymentPlan: PaymentPlanId;
}

export interface DiscountBreakdown {
  /** Taken off the list prices by the bundle tier. */
  readonly bundle: number;
  /** Taken off what was left by the coupon. */
  readonly coupon: number;
}

export interface CoursePurchaseQuote {
  readonly lines: readonly InvoiceLine[];
  readonly totals: InvoiceTotals;
  readonly bundleTier: BundleTier | null;
  readonly coupon: Coupon | null;
  readonly discounts: DiscountBreakdown;
  readonly stackingRule: string;
  readonly entitlements: readonly string[];
  readonly paymentPlan: PaymentPlanId;
  /** One installment for pay in full; the plan's installments otherwise. They add up to the total. */
  readonly installments: readonly Installment[];
}

export type QuoteField = 'courseIds' | 'currency' | 'couponCode' | 'plan';

export type CoursePurchaseQuoteResult =
  | ({ readonly ok: true } & CoursePurchaseQuote)
  | { readonly ok: false; readonly field: QuoteField; readonly reason: string };

export function quoteCoursePurchase(request: CoursePurchaseRequest): CoursePurchaseQuoteResult {
  const fail = (field: QuoteField, reason: string) => ({ ok: false, field, reason }) as const;
  const { courseIds, currency } = request;
  if (courseIds.length === 0) return fail('courseIds', 'an order needs at least one course');
  const duplicate = courseIds.find((id, i) => courseIds.indexOf(id) !== i);
  if (duplicate) return fail('courseIds', `course '${duplicate}' is listed twice; each course is bought once`);
  for (const courseId of courseIds) {
    const lookup = lookupCoursePrice(courseId, currency);
    if (!lookup.ok) return fail(lookup.field === 'course' ? 'courseIds' : 'currency', lookup.reason);
  }

  const coupon = request.coupon ?? null;
  if (coupon) {
    const check = checkCouponRedemption(coupon, {
      at: request.at,
      currency,
      productIds: ['course'],
      couponRedemptions: request.couponRedemptions ?? 0,
    });
    if (!check.ok) return fail('couponCode', check.reason);
  }

  const priced = priceCourseOrder({ courseIds, currency, at: request.at, coupon, couponRedemptions: request.couponRedemptions ?? 0 });
  if (!priced.ok) return fail('courseIds', priced.reason);
  // The same order without the coupon tells the bundle's share of the discount.
  const bundleOnly = priceCourseOrder({ courseIds, currency, at: request.at });
  const bundleDiscount = bundleOnly.ok ? bundleOnly.totals.discount : 0;

  let installments: readonly Installment[];
  if (request.paymentPlan === PAY_IN_FULL) {
    installments = [{ index: 0, dueAt: request.at, amount: priced.totals.total }];
  } else {
    const schedule = buildInstallmentSchedule({
      orderId: request.orderId,
      planId: request.paymentPlan,
      productId: 'course',
      currency,
      total: priced.totals.total,
      firstDueAt: request.at,
    });
    if (!schedule.ok) return fail('plan', `${schedule.reason}; choose one of ${paymentPlanIds().join(', ')}`);
    installments = schedule.schedule.installments;
  }

  return {
    ok: true,
    lines: priced.lines,
    totals: priced.totals,
    bundleTier: priced.bundleTier,
    coupon: priced.coupon,
    discounts: { bundle: bundleDiscount, coupon: priced.totals.discount - bundleDiscount },
    stackingRule: STACKING_RULE,
    entitlements: priced.entitlements,
    paymentPlan: request.paymentPlan,
    installments,
  };
}

/** "Offer Design Masterclass, Content Engine" for invoice lines and charge descriptions. */
export function courseNames(courseIds: readonly string[]): string {
  return courseIds.map((id) => COURSES.find((c) => c.id === id)?.name ?? id).join(', ');
}

// ---- What an order looks like to its clients (the workflow query, the API) ----

/**
 * pending   placed, the first payment not yet collected (no access yet)
 * active    first payment collected, installments still to come
 * past_due  an installment after the first failed; dunning retries it (access continues)
 * paid      every installment collected
 * unpaid    the dunning schedule gave up on an installment; nothing more is charged
 * rejected  the order could not be placed (a coupon expired or ran out meanwhile); nothing charged
 */
export type OrderStatus = 'pending' | 'active' | 'past_due' | 'paid' | 'unpaid' | 'rejected';

/** none: not granted yet (or never); granted; canceled by the buyer; revoked for non-payment. */
export type AccessStatus = 'none' | 'granted' | 'canceled' | 'revoked';

export type InstallmentStatus = 'scheduled' | 'paid' | 'past_due' | 'unpaid';

export interface InstallmentView {
  readonly index: number;
  readonly dueAt: string;
  readonly amount: number;
  readonly status: InstallmentStatus;
  readonly invoiceId: string | null;
  readonly attempts: number;
  readonly paidAt: string | null;
}

export interface OrderPaymentView {
  readonly invoiceId: string;
  readonly installmentIndex: number;
  readonly amount: number;
  readonly currency: Currency;
  readonly outcome: 'succeeded' | 'declined' | 'requires_action';
  readonly gateway: string;
  readonly declineCode: string | null;
  readonly at: string;
}

export interface OrderView {
  readonly orderId: string;
  readonly customerId: string;
  readonly status: OrderStatus;
  readonly rejection: string | null;
  readonly orderedAt: string;
  readonly courseIds: readonly string[];
  readonly currency: Currency;
  readonly paymentPlan: PaymentPlanId;
  readonly pricing: {
    readonly subtotal: number;
    readonly discount: number;
    readonly discounts: DiscountBreakdown;
    readonly total: number;
    readonly bundleTier: BundleTier | null;
    readonly couponId: string | null;
    readonly promotionCode: string | null;
    readonly stackingRule: string;
  } | null;
  readonly installments: readonly InstallmentView[];
  readonly paidInstallments: number;
  readonly amountPaid: number;
  readonly amountStillOwed: number;
  /** The next installment to collect (the one in dunning, when past due); null when none is left. */
  readonly nextDue: { readonly index: number; readonly dueAt: string; readonly amount: number; readonly retryAt: string | null } | null;
  readonly access: { readonly status: AccessStatus; readonly grantedAt: string | null; readonly endedAt: string | null; readonly reason: string | null };
  /** What this order gives access to right now. */
  readonly entitlements: readonly string[];
  readonly lastPayment: OrderPaymentView | null;
}

/** Why cancelAccess is refused now, or null when it may go ahead. */
export function cancelAccessRejection(status: OrderStatus, access: AccessStatus): string | null {
  if (access === 'canceled') return 'access to this order was already canceled';
  if (access === 'revoked') return 'access to this order already ended for non-payment';
  if (status === 'rejected') return 'the order was rejected; it never gave access';
  if (access === 'none') return 'access has not been granted yet: the first payment is still outstanding';
  return null;
}
