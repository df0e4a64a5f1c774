import fc from 'fast-check';
import { priceCourseOrder } from '../../domain/course-orders';
import { entitlementsAt, hasEntitlement, subscriptionGrantsAccess } from '../../domain/entitlements';
import {
  amountStillOwed,
  buildInstallmentSchedule,
  cancelCourseAccess,
  installmentInvoiceId,
  isPaidInFull,
  nextInstallment,
} from '../../domain/installments';

const schedule = () => {
  const result = buildInstallmentSchedule({
    orderId: 'ord_abc',
    planId: 'course-3-monthly',
    productId: 'course',
    currency: 'USD',
    total: 99_700,
    firstDueAt: '2031-03-15T10:00:00.000Z',
  });
  if (!result.ok) throw new Error(result.reason);
  return result.schedule;
};

describe('installments', () => {
  it('splits $997 into 3 monthly payments that add up to the cent', () => {
    const s = schedule();
    expect(s.installments).toEqual([
      { index: 0, dueAt: '2031-03-15T10:00:00.000Z', amount: 33_233 },
      { index: 1, dueAt: '2031-04-15T10:00:00.000Z', amount: 33_234 },
      { index: 2, dueAt: '2031-05-15T10:00:00.000Z', amount: 33_233 },
    ]);
    expect(installmentInvoiceId(s.orderId, 0)).toBe('in_abc_i01');
  });

  it('keeps the remaining installments due when the buyer cancels access', () => {
    const s = schedule();
    const canceled = cancelCourseAccess(s, 1, '2031-03-20T00:00:00.000Z');
    expect(canceled).toEqual({
      accessEndsAt: '2031-03-20T00:00:00.000Z',
      installmentsStillDue: [s.installments[1], s.installments[2]],
      amountStillOwed: 66_467,
    });
    expect(nextInstallment(s, 1)).toEqual(s.installments[1]);
    expect(isPaidInFull(s, 3)).toBe(true);
    expect(nextInstallment(s, 3)).toBeNull();
  });

  it('pays for a discounted bundle in installments', () => {
    // 3 courses with the 20% tier: 239,280, in three: 79,760 each.
    const order = priceCourseOrder({ courseIds: ['offer-design', 'sales-calls', 'content-engine'], currency: 'USD', at: '2031-03-15T00:00:00.000Z' });
    if (!order.ok) throw new Error(order.reason);
    const result = buildInstallmentSchedule({
      orderId: 'ord_b',
      planId: 'course-3-monthly',
      productId: 'course',
      currency: 'USD',
      total: order.totals.total,
      firstDueAt: '2031-03-15T00:00:00.000Z',
    });
    expect(result).toMatchObject({ ok: true, schedule: { installments: [{ amount: 79_760 }, { amount: 79_760 }, { amount: 79_760 }] } });
  });

  it('refuses a plan that does not fit', () => {
    const base = { orderId: 'o', productId: 'course', currency: 'USD' as const, total: 99_700, firstDueAt: '2031-01-01T00:00:00Z' };
    expect(buildInstallmentSchedule({ ...base, planId: 'course-12-weekly' })).toEqual({ ok: false, reason: "unknown payment plan 'course-12-weekly'" });
    expect(buildInstallmentSchedule({ ...base, planId: 'course-3-monthly', productId: 'elite' })).toEqual({
      ok: false,
      reason: "payment plan 'course-3-monthly' is not offered for elite; it is for course",
    });
  });

  it('property: installments add up to the total and differ by at most one cent', () => {
    fc.assert(
      fc.property(fc.integer({ min: 3, max: 1e10 }), (total) => {
        const result = buildInstallmentSchedule({ orderId: 'o', planId: 'course-3-monthly', productId: 'course', currency: 'USD', total, firstDueAt: '2031-01-31T00:00:00Z' });
        if (!result.ok) throw new Error(result.reason);
        const amounts = result.schedule.installments.map((i) => i.amount);
        expect(amounts.reduce((a, b) => a + b, 0)).toBe(total);
        expect(Math.max(...amounts) - Math.min(...amounts)).toBeLessThanOrEqual(1);
        expect(amountStillOwed(result.schedule, 0)).toBe(total);
      }),
    );
  });
});

describe('entitlements', () => {
  const at = '2031-06-01T00:00:00.000Z';

  it('grants what active, trialing and recovering subscriptions include', () => {
    expect(
      entitlementsAt(
        {
          subscriptions: [
            { planId: 'elite', status: 'past_due' },
            { planId: 'group', status: 'paused' },
          ],
        },
        at,
      ),
    ).toEqual(['community', 'elite-coaching']);
    expect(['incomplete', 'trialing', 'active', 'past_due', 'paused', 'canceled', 'unpaid'].filter((s) => subscriptionGrantsAccess(s as never))).toEqual([
      'trialing',
      'active',
      'past_due',
    ]);
  });

  it('grants courses until access ends, and enterprise training within the term', () => {
    const holdings = {
      courses: [{ courseId: 'offer-design' }, { courseId: 'sales-calls', accessEndsAt: '2031-05-01T00:00:00.000Z' }],
      contracts: [{ termStart: '2031-01-01T00:00:00.000Z', termEnd: '2032-01-01T00:00:00.000Z', status: 'past_due' as const }],
    };
    expect(entitlementsAt(holdings, at)).toEqual(['course:offer-design', 'enterprise-training']);
    expect(hasEntitlement(holdings, 'course:sales-calls', '2031-04-30T00:00:00.000Z')).toBe(true);
    expect(entitlementsAt(holdings, '2032-01-01T00:00:00.000Z')).toEqual(['course:offer-design']);
  });
});
