import {
  COURSE_BUNDLE_TIERS,
  COURSES,
  lookupCoursePrice,
  lookupRecurringPrice,
  lookupRecurringPriceAt,
  priceLabel,
  recurringPriceSnapshot,
  trialDaysFor,
} from '../../domain/catalog';
import { buildInstallmentSchedule } from '../../domain/installments';

// Before the v2 price list takes effect (2032-01-01) and after it.
const LAUNCH = '2031-06-01T00:00:00.000Z';
const AFTER_V2 = '2032-02-01T00:00:00.000Z';

describe('price table: recurring offers, exact minor units per currency', () => {
  it.each([
    // plan, interval, currency, cents, price id, trial days
    ['elite', 'month', 'USD', 500_000, 'elite-monthly-v1', 0],
    ['elite', 'month', 'EUR', 460_000, 'elite-monthly-v1', 0],
    ['elite', 'month', 'GBP', 400_000, 'elite-monthly-v1', 0],
    ['elite', 'year', 'USD', 5_400_000, 'elite-annual-v1', 0], // 500,000 x 12 = 6,000,000 less 10%
    ['elite', 'year', 'EUR', 4_968_000, 'elite-annual-v1', 0], // 460,000 x 12 = 5,520,000 less 10%
    ['elite', 'year', 'GBP', 4_320_000, 'elite-annual-v1', 0], // 400,000 x 12 = 4,800,000 less 10%
    ['group', 'month', 'USD', 150_000, 'group-monthly-v1', 7],
    ['group', 'month', 'EUR', 140_000, 'group-monthly-v1', 7],
    ['group', 'month', 'GBP', 120_000, 'group-monthly-v1', 7],
    ['group', 'quarter', 'USD', 420_000, 'group-quarterly-v1', 0],
    ['group', 'quarter', 'EUR', 392_000, 'group-quarterly-v1', 0],
    ['group', 'quarter', 'GBP', 336_000, 'group-quarterly-v1', 0],
    ['community', 'month', 'USD', 9_700, 'community-monthly-v1', 14],
    ['community', 'month', 'GBP', 7_900, 'community-monthly-v1', 14],
    ['community', 'year', 'USD', 97_000, 'community-annual-v1', 14],
    ['community', 'year', 'GBP', 79_000, 'community-annual-v1', 14],
  ] as const)('%s per %s in %s at launch: %i (%s, %i trial days)', (plan, interval, currency, cents, priceId, trial) => {
    const lookup = lookupRecurringPriceAt(plan, interval, currency, LAUNCH);
    expect(lookup).toEqual({
      ok: true,
      price: expect.objectContaining({ priceId, planId: plan, interval, unitAmount: cents, currency, catalogVersion: 1 }),
    });
    // The launch lookup kept for existing callers agrees.
    expect(lookupRecurringPrice(plan, interval, currency)).toEqual(lookup);
    expect(trialDaysFor(priceId)).toBe(trial);
  });

  it.each([
    ['USD', 10_700],
    ['EUR', 9_900],
    ['GBP', 8_700],
  ] as const)('community monthly v2 for new subscribers from 2032 in %s: %i', (currency, cents) => {
    expect(lookupRecurringPriceAt('community', 'month', currency, AFTER_V2)).toEqual({
      ok: true,
      price: {
        priceId: 'community-monthly-v2',
        planId: 'community',
        productName: 'Community Access',
        interval: 'month',
        unitAmount: cents,
        currency,
        catalogVersion: 2,
      },
    });
    expect(trialDaysFor('community-monthly-v2')).toBe(14);
  });

  it('never reprices an existing subscriber: their v1 snapshot stays resolvable and unchanged', () => {
    expect(recurringPriceSnapshot('community-monthly-v1', 'USD')).toMatchObject({ unitAmount: 9_700, catalogVersion: 1 });
    // Plans without a v2 keep selling v1 after the v2 date.
    expect(lookupRecurringPriceAt('community', 'year', 'USD', AFTER_V2)).toMatchObject({ ok: true, price: { priceId: 'community-annual-v1' } });
    expect(lookupRecurringPriceAt('elite', 'month', 'EUR', AFTER_V2)).toMatchObject({ ok: true, price: { priceId: 'elite-monthly-v1', unitAmount: 460_000 } });
  });

  it('says what it cannot price', () => {
    expect(lookupRecurringPriceAt('community', 'month', 'EUR', LAUNCH)).toEqual({ ok: false, field: 'currency', reason: "plan 'community' has no EUR price" });
    expect(lookupRecurringPriceAt('community', 'quarter', 'USD', AFTER_V2)).toEqual({
      ok: false,
      field: 'interval',
      reason: "plan 'community' is not sold per quarter; offered: month, year",
    });
    expect(lookupRecurringPriceAt('enterprise', 'month', 'USD', LAUNCH)).toMatchObject({ ok: false, field: 'plan' });
  });

  it('labels prices the way invoices do', () => {
    const lookup = lookupRecurringPriceAt('group', 'quarter', 'GBP', LAUNCH);
    if (!lookup.ok) throw new Error(lookup.reason);
    expect(priceLabel(lookup.price)).toBe('Group Coaching (quarterly)');
  });
});

describe('price table: self-paced courses', () => {
  const table = COURSES.flatMap((course) =>
    ([
      ['USD', 99_700],
      ['EUR', 92_700],
      ['GBP', 79_700],
    ] as const).map(([currency, cents]) => [course.id, currency, cents] as const),
  );

  it.each(table)('%s in %s: %i one-time', (courseId, currency, cents) => {
    expect(lookupCoursePrice(courseId, currency)).toMatchObject({ ok: true, price: { courseId, unitAmount: cents, currency, catalogVersion: 1 } });
  });

  it('offers bundle tiers as data: 2 courses 10% off, 3 or more 20% off', () => {
    expect(COURSE_BUNDLE_TIERS).toEqual([
      { minCourses: 2, basisPoints: 1_000 },
      { minCourses: 3, basisPoints: 2_000 },
    ]);
  });

  it('rejects an unknown course', () => {
    expect(lookupCoursePrice('astrology', 'USD')).toMatchObject({ ok: false, field: 'course' });
  });
});

describe('price table: a course in 3 monthly payments', () => {
  it.each([
    // 99,700 / 3 = 33,233.33: cumulative rounding gives 33,233 | 66,467 - 33,233 = 33,234 | 99,700 - 66,467 = 33,233
    ['USD', 99_700, [33_233, 33_234, 33_233]],
    // 92,700 / 3 = 30,900 exactly
    ['EUR', 92_700, [30_900, 30_900, 30_900]],
    // 79,700 / 3 = 26,566.67: 26,567 | 53,133 - 26,567 = 26,566 | 79,700 - 53,133 = 26,567
    ['GBP', 79_700, [26_567, 26_566, 26_567]],
  ] as const)('in %s: %i as %j', (currency, total, amounts) => {
    const result = buildInstallmentSchedule({
      orderId: 'ord_1',
      planId: 'course-3-monthly',
      productId: 'course',
      currency,
      total,
      firstDueAt: '2031-01-31T10:00:00.000Z',
    });
    if (!result.ok) throw new Error(result.reason);
    expect(result.schedule.installments.map((i) => i.amount)).toEqual(amounts);
    expect(result.schedule.installments.map((i) => i.dueAt)).toEqual([
      '2031-01-31T10:00:00.000Z',
      '2031-02-28T10:00:00.000Z',
      '2031-03-31T10:00:00.000Z',
    ]);
  });
});
