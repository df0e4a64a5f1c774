import { cancelAccessRejection, paymentPlanIds, quoteCoursePurchase } from '../../domain/course-purchase';
import { STACKING_RULE, type Coupon } from '../../domain/discounts';

const at = '2031-03-15T10:00:00.000Z';
const tenPercent: Coupon = { id: 'TEN', name: '10% off', discount: { kind: 'percent', basisPoints: 1_000 }, duration: { kind: 'once' }, appliesTo: ['course'] };
const threeCourses = ['offer-design', 'sales-calls', 'content-engine'];

describe('quoteCoursePurchase', () => {
  it('stacks the 20% bundle tier and a 10% coupon: 299100 -> 239280 -> 215352, paid in full now', () => {
    const quote = quoteCoursePurchase({ orderId: 'ord_a', courseIds: threeCourses, currency: 'USD', at, coupon: tenPercent, paymentPlan: 'pay_in_full' });
    if (!quote.ok) throw new Error(quote.reason);
    expect(quote.totals).toMatchObject({ subtotal: 299_100, discount: 83_748, total: 215_352 });
    expect(quote.discounts).toEqual({ bundle: 59_820, coupon: 23_928 });
    expect(quote.stackingRule).toBe(STACKING_RULE);
    expect(quote.installments).toEqual([{ index: 0, dueAt: at, amount: 215_352 }]);
    expect(quote.entitlements).toEqual(['course:offer-design', 'course:sales-calls', 'course:content-engine']);
  });

  it('splits the discounted total into the plan installments, adding up to the cent', () => {
    const quote = quoteCoursePurchase({ orderId: 'ord_b', courseIds: ['offer-design', 'sales-calls'], currency: 'GBP', at, coupon: tenPercent, paymentPlan: 'course-3-monthly' });
    if (!quote.ok) throw new Error(quote.reason);
    // 2 x 79700 = 159400; 10% bundle -> 143460; 10% coupon -> 129114; in three: 43038 each.
    expect(quote.totals.total).toBe(129_114);
    expect(quote.installments.map((i) => [i.dueAt, i.amount])).toEqual([
      ['2031-03-15T10:00:00.000Z', 43_038],
      ['2031-04-15T10:00:00.000Z', 43_038],
      ['2031-05-15T10:00:00.000Z', 43_038],
    ]);
  });

  it.each([
    ['no courses', { courseIds: [] }, 'courseIds', 'an order needs at least one course'],
    ['an unknown course', { courseIds: ['offer-design', 'astrology'] }, 'courseIds', "unknown course 'astrology'"],
    ['a course twice', { courseIds: ['offer-design', 'offer-design'] }, 'courseIds', 'listed twice'],
    ['an expired coupon', { coupon: { ...tenPercent, redeemBy: '2031-03-01T00:00:00.000Z' } }, 'couponCode', 'coupon TEN expired on 2031-03-01'],
    ['a coupon for another plan', { coupon: { ...tenPercent, appliesTo: ['community'] } }, 'couponCode', 'does not apply to course; it is for community only'],
    ['a used-up coupon', { coupon: { ...tenPercent, maxRedemptions: 2 }, couponRedemptions: 2 }, 'couponCode', 'has reached its limit of 2 redemptions'],
    ['an amount coupon in another currency', { coupon: { ...tenPercent, discount: { kind: 'amount', amounts: { USD: 5_000 } } }, currency: 'EUR' }, 'couponCode', 'has no EUR amount'],
    ['an unknown plan', { paymentPlan: 'course-12-weekly' }, 'plan', "unknown payment plan 'course-12-weekly'"],
    // Free with a 100% coupon: nothing to split into three.
    ['a free order on a plan', { courseIds: ['offer-design'], coupon: { ...tenPercent, discount: { kind: 'percent', basisPoints: 10_000 } }, paymentPlan: 'course-3-monthly' }, 'plan', 'cannot be split into 3 payments'],
  ] as const)('refuses %s', (_name, change, field, reason) => {
    const quote = quoteCoursePurchase({ orderId: 'ord_c', courseIds: threeCourses, currency: 'USD', at, paymentPlan: 'pay_in_full', ...(change as object) });
    expect(quote.ok).toBe(false);
    if (quote.ok) return;
    expect(quote.field).toBe(field);
    expect(quote.reason).toContain(reason);
  });

  it('offers pay in full and the course plans', () => {
    expect(paymentPlanIds()).toEqual(['pay_in_full', 'course-3-monthly']);
  });
});

describe('cancelAccessRejection', () => {
  it('allows canceling only access that is currently granted', () => {
    expect(cancelAccessRejection('active', 'granted')).toBeNull();
    expect(cancelAccessRejection('past_due', 'granted')).toBeNull();
    expect(cancelAccessRejection('paid', 'granted')).toBeNull();
    expect(cancelAccessRejection('pending', 'none')).toMatch(/not been granted yet/);
    expect(cancelAccessRejection('active', 'canceled')).toMatch(/already canceled/);
    expect(cancelAccessRejection('unpaid', 'revoked')).toMatch(/non-payment/);
    expect(cancelAccessRejection('rejected', 'none')).toMatch(/rejected/);
  });
});
