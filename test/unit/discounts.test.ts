import fc from 'fast-check';
import { priceCourseOrder } from '../../domain/course-orders';
import {
  applyCouponForPeriod,
  bundleTierFor,
  checkCouponRedemption,
  couponAppliesToPeriod,
  couponDiscountOn,
  redeemPromotionCode,
  spreadDiscount,
  STACKING_RULE,
  type Coupon,
  type PromotionCode,
} from '../../domain/discounts';
import type { InvoiceLine } from '../../domain/invoice';
import { lineTotal } from '../../domain/invoice-totals';
import { taxTreatmentFor } from '../../domain/tax';

const AT = '2031-03-15T12:00:00.000Z';
const THREE = ['offer-design', 'sales-calls', 'content-engine'];

const spring10: Coupon = {
  id: 'SPRING10',
  name: 'Spring 10% off',
  discount: { kind: 'percent', basisPoints: 1_000 },
  duration: { kind: 'once' },
  redeemBy: '2031-04-01T00:00:00.000Z',
  maxRedemptions: 100,
  appliesTo: ['course', 'community'],
};

describe('course bundle with a coupon: the stacking rule', () => {
  it('states the rule in one sentence', () => {
    expect(STACKING_RULE).toBe(
      'One coupon per purchase. Bundle discounts apply first, then the coupon applies to the discounted price; discounts never take a price below zero.',
    );
  });

  it('3 courses: 20% bundle tier first, then 10% coupon on what is left (28% off, not 30%)', () => {
    // List: 3 x 99,700 = 299,100.
    // Bundle 20%: 299,100 x 2,000 / 10,000 = 59,820 -> 239,280 (19,940 per course).
    // Coupon 10% of 239,280 = 23,928 -> 215,352 (7,976 per course).
    // Total discount 83,748 = 28% of 299,100. Adding the percentages (30%) would give 209,370.
    const order = priceCourseOrder({ courseIds: THREE, currency: 'USD', at: AT, coupon: spring10 });
    if (!order.ok) throw new Error(order.reason);
    expect(order.bundleTier).toEqual({ minCourses: 3, basisPoints: 2_000 });
    expect(order.totals).toEqual({ subtotal: 299_100, discount: 83_748, tax: 0, total: 215_352, taxes: [] });
    expect(order.totals.total).not.toBe(209_370);
    expect(order.lines.map((l) => [l.amount, l.discountAmount, lineTotal(l)])).toEqual([
      [99_700, 27_916, 71_784],
      [99_700, 27_916, 71_784],
      [99_700, 27_916, 71_784],
    ]);
    expect(order.lines[0]?.discountDescription).toBe('Bundle of 3+ courses: 20% off; Coupon SPRING10: 10% off');
    expect(order.entitlements).toEqual(['course:offer-design', 'course:sales-calls', 'course:content-engine']);
  });

  it.each([
    // EUR: 3 x 92,700 = 278,100; -20% = 55,620 -> 222,480; -10% = 22,248 -> 200,232.
    ['EUR', 278_100, 200_232],
    // GBP: 3 x 79,700 = 239,100; -20% = 47,820 -> 191,280; -10% = 19,128 -> 172,152.
    ['GBP', 239_100, 172_152],
  ] as const)('the same order in %s: %i -> %i', (currency, subtotal, total) => {
    const order = priceCourseOrder({ courseIds: THREE, currency, at: AT, coupon: spring10 });
    expect(order).toMatchObject({ ok: true, totals: { subtotal, total } });
  });

  it('2 courses get the 10% tier; 1 course no tier', () => {
    // 2 x 99,700 = 199,400; 10% = 19,940 -> 179,460.
    expect(priceCourseOrder({ courseIds: THREE.slice(0, 2), currency: 'USD', at: AT })).toMatchObject({ ok: true, totals: { total: 179_460 } });
    expect(priceCourseOrder({ courseIds: THREE.slice(0, 1), currency: 'USD', at: AT })).toMatchObject({ ok: true, totals: { total: 99_700 }, bundleTier: null });
    expect(bundleTierFor(4)).toEqual({ minCourses: 3, basisPoints: 2_000 });
  });

  it('an amount coupon comes after the bundle and never takes the order below zero', () => {
    const big: Coupon = { id: 'ALLFREE', name: 'x', discount: { kind: 'amount', amounts: { USD: 1_000_000 } }, duration: { kind: 'once' } };
    const order = priceCourseOrder({ courseIds: THREE, currency: 'USD', at: AT, coupon: big });
    expect(order).toMatchObject({ ok: true, totals: { total: 0, discount: 299_100 } });
  });

  it('taxes what is left after both discounts (DE consumer, 19% exclusive)', () => {
    // Per course in EUR: 92,700 - 18,540 (bundle) - 7,416 (coupon) = 66,744 taxable.
    // VAT 19%: 66,744 x 1,900 / 10,000 = 12,681.36 -> 12,681 per line; 3 lines: 38,043.
    // Total: 200,232 + 38,043 = 238,275.
    const order = priceCourseOrder({ courseIds: THREE, currency: 'EUR', at: AT, coupon: spring10, tax: taxTreatmentFor({ country: 'DE' }) });
    expect(order).toMatchObject({ ok: true, totals: { subtotal: 278_100, discount: 77_868, tax: 38_043, total: 238_275 } });
  });

  it('rejects a duplicate or unknown course', () => {
    expect(priceCourseOrder({ courseIds: ['sales-calls', 'sales-calls'], currency: 'USD', at: AT })).toEqual({
      ok: false,
      reason: "course 'sales-calls' is listed twice; each course is bought once",
    });
    expect(priceCourseOrder({ courseIds: [], currency: 'USD', at: AT })).toEqual({ ok: false, reason: 'an order needs at least one course' });
  });
});

describe('coupons and promotion codes', () => {
  const ctx = { at: AT, currency: 'USD' as const, productIds: ['course'], couponRedemptions: 0 };

  it('rejects a coupon past its expiry with a clear reason', () => {
    expect(checkCouponRedemption(spring10, { ...ctx, at: '2031-04-01T00:00:00.000Z' })).toEqual({ ok: false, reason: 'coupon SPRING10 expired on 2031-04-01' });
    expect(priceCourseOrder({ courseIds: THREE, currency: 'USD', at: '2031-05-01T00:00:00.000Z', coupon: spring10 })).toEqual({
      ok: false,
      reason: 'coupon SPRING10 expired on 2031-04-01',
    });
  });

  it('enforces max redemptions, plan restrictions and currency', () => {
    expect(checkCouponRedemption(spring10, { ...ctx, couponRedemptions: 100 })).toEqual({ ok: false, reason: 'coupon SPRING10 has reached its limit of 100 redemptions' });
    expect(checkCouponRedemption(spring10, { ...ctx, productIds: ['elite'] })).toEqual({
      ok: false,
      reason: 'coupon SPRING10 does not apply to elite; it is for course, community only',
    });
    const fiftyOff: Coupon = { id: 'FIFTY', name: '$50 off', discount: { kind: 'amount', amounts: { USD: 5_000 } }, duration: { kind: 'once' } };
    expect(checkCouponRedemption(fiftyOff, { ...ctx, currency: 'GBP' })).toEqual({ ok: false, reason: 'coupon FIFTY has no GBP amount' });
    expect(checkCouponRedemption(spring10, ctx)).toEqual({ ok: true, coupon: spring10 });
  });

  it('redeems promotion codes case-insensitively, with their own limits first', () => {
    const codes: PromotionCode[] = [
      { code: 'LAUNCH', couponId: 'SPRING10', active: true, maxRedemptions: 10 },
      { code: 'OLD', couponId: 'SPRING10', active: false },
      { code: 'JAN', couponId: 'SPRING10', active: true, expiresAt: '2031-02-01T00:00:00.000Z' },
    ];
    expect(redeemPromotionCode(' launch ', codes, [spring10], { ...ctx, codeRedemptions: 3 })).toEqual({ ok: true, coupon: spring10 });
    expect(redeemPromotionCode('LAUNCH', codes, [spring10], { ...ctx, codeRedemptions: 10 })).toEqual({
      ok: false,
      reason: 'promotion code LAUNCH has reached its limit of 10 redemptions',
    });
    expect(redeemPromotionCode('OLD', codes, [spring10], ctx)).toEqual({ ok: false, reason: 'promotion code OLD is no longer active' });
    expect(redeemPromotionCode('JAN', codes, [spring10], ctx)).toEqual({ ok: false, reason: 'promotion code JAN expired on 2031-02-01' });
    expect(redeemPromotionCode('NOPE', codes, [spring10], ctx)).toEqual({ ok: false, reason: 'promotion code NOPE does not exist' });
  });

  it('discounts subscription periods once, for N periods, or forever', () => {
    const repeating: Coupon = { ...spring10, duration: { kind: 'repeating', periods: 3 } };
    const forever: Coupon = { ...spring10, duration: { kind: 'forever' } };
    expect([0, 1].map((n) => couponAppliesToPeriod(spring10, n))).toEqual([true, false]);
    expect([0, 1, 2, 3].map((n) => couponAppliesToPeriod(repeating, n))).toEqual([true, true, true, false]);
    expect(couponAppliesToPeriod(forever, 500)).toBe(true);

    // Community $97 with 10% off for 3 periods: 9,700 - 970 = 8,730 in periods 0-2, then 9,700.
    const renewal: InvoiceLine = { description: 'Community Access (monthly)', periodStart: null, periodEnd: null, quantity: 1, unitAmount: 9_700, amount: 9_700 };
    expect(applyCouponForPeriod([renewal], repeating, 2, 'USD').map(lineTotal)).toEqual([8_730]);
    expect(applyCouponForPeriod([renewal], repeating, 3, 'USD').map(lineTotal)).toEqual([9_700]);
  });

  it('rounds a percentage coupon once: 10% of 9,750 is 975; 15% of 9,999 is 1,499.85 -> 1,500', () => {
    expect(couponDiscountOn(spring10, 9_750, 'USD')).toBe(975);
    expect(couponDiscountOn({ ...spring10, discount: { kind: 'percent', basisPoints: 1_500 } }, 9_999, 'USD')).toBe(1_500);
  });

  it('property: a spread discount adds up exactly and never exceeds any line', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 1_000_000 }), { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 10_000 }), (amounts, bp) => {
        const lines: InvoiceLine[] = amounts.map((a) => ({ description: 'x', periodStart: null, periodEnd: null, quantity: 1, unitAmount: a, amount: a }));
        const total = amounts.reduce((s, a) => s + a, 0);
        const discount = Math.floor((total * bp) / 10_000);
        const spread = spreadDiscount(lines, discount, 'd');
        expect(spread.reduce((s, l) => s + (l.discountAmount ?? 0), 0)).toBe(discount);
        for (const line of spread) expect(line.discountAmount ?? 0).toBeLessThanOrEqual(line.amount);
      }),
    );
  });
});
