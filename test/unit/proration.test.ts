import fc from 'fast-check';
import { billingPeriod, type BillingInterval } from '../../domain/calendar';
import { lookupRecurringPriceAt, type PriceSnapshot } from '../../domain/catalog';
import { prorateAnchorChange, prorateChange, splitPeriodDays, unusedTimeCredit } from '../../domain/proration';
import type { Currency } from '../../domain/money';

function price(plan: string, interval: BillingInterval, currency: Currency = 'USD'): PriceSnapshot {
  const lookup = lookupRecurringPriceAt(plan, interval, currency, '2031-01-01T00:00:00.000Z');
  if (!lookup.ok) throw new Error(lookup.reason);
  return lookup.price;
}

// April 2031 has 30 days, May 2031 has 31. Periods start at 15:00 UTC on the 1st.
const APRIL = billingPeriod('2031-04-01T15:00:00.000Z', 'month', 0); // Apr 1 -> May 1
const MAY = billingPeriod('2031-04-01T15:00:00.000Z', 'month', 1); // May 1 -> Jun 1
// "Day 10" = the 10th calendar day of the period: days 1-9 used, day 10 onwards unused.
const DAY_10_OF_APRIL = '2031-04-10T12:00:00.000Z';
const DAY_10_OF_MAY = '2031-05-10T12:00:00.000Z';

describe('proration by day', () => {
  it('counts day 10 as the first unused day: 21 unused of 30, 22 unused of 31', () => {
    expect(splitPeriodDays(APRIL, DAY_10_OF_APRIL)).toEqual({ daysInPeriod: 30, daysUsed: 9, daysUnused: 21 });
    expect(splitPeriodDays(MAY, DAY_10_OF_MAY)).toEqual({ daysInPeriod: 31, daysUsed: 9, daysUnused: 22 });
  });

  it('upgrades Community monthly -> Elite monthly on day 10 of a 30-day month', () => {
    // Credit: Community $97, 21 of 30 days unused: 9,700 x 21 / 30 = 203,700 / 30 = 6,790 exactly.
    // Charge: Elite $5,000 for the same 21 of 30 days: 500,000 x 21 / 30 = 350,000 exactly.
    // Net due now: 350,000 - 6,790 = 343,210 ($3,432.10). Period and anchor unchanged.
    const result = prorateChange({
      from: price('community', 'month'),
      fromQuantity: 1,
      to: price('elite', 'month'),
      toQuantity: 1,
      period: APRIL,
      changeAt: DAY_10_OF_APRIL,
    });
    expect(result).toMatchObject({ daysInPeriod: 30, daysUsed: 9, daysUnused: 21, credit: 6_790, charge: 350_000, net: 343_210, newAnchor: null });
    expect(result.newPeriod).toEqual({ start: APRIL.start, end: APRIL.end });
    expect(result.lines).toEqual([
      {
        description: 'Unused time on Community Access (monthly) (21 of 30 days)',
        periodStart: DAY_10_OF_APRIL,
        periodEnd: APRIL.end,
        quantity: 1,
        unitAmount: -6_790,
        amount: -6_790,
      },
      {
        description: 'Remaining time on Elite 1:1 Coaching (monthly) (21 of 30 days)',
        periodStart: DAY_10_OF_APRIL,
        periodEnd: APRIL.end,
        quantity: 1,
        unitAmount: 350_000,
        amount: 350_000,
      },
    ]);
  });

  it('upgrades Community monthly -> Elite monthly on day 10 of a 31-day month', () => {
    // Credit: 9,700 x 22 / 31 = 213,400 / 31 = 6,883.87 -> 6,884 (rounded once, half away from zero).
    // Charge: 500,000 x 22 / 31 = 11,000,000 / 31 = 354,838.71 -> 354,839.
    // Net: 354,839 - 6,884 = 347,955.
    const result = prorateChange({
      from: price('community', 'month'),
      fromQuantity: 1,
      to: price('elite', 'month'),
      toQuantity: 1,
      period: MAY,
      changeAt: DAY_10_OF_MAY,
    });
    expect(result).toMatchObject({ daysInPeriod: 31, daysUnused: 22, credit: 6_884, charge: 354_839, net: 347_955 });
  });

  it('upgrades in GBP with the GBP price points', () => {
    // Credit: £79 -> 7,900 x 21 / 30 = 5,530. Charge: £4,000 -> 400,000 x 21 / 30 = 280,000. Net 274,470.
    const result = prorateChange({
      from: price('community', 'month', 'GBP'),
      fromQuantity: 1,
      to: price('elite', 'month', 'GBP'),
      toQuantity: 1,
      period: APRIL,
      changeAt: DAY_10_OF_APRIL,
    });
    expect(result).toMatchObject({ credit: 5_530, charge: 280_000, net: 274_470 });
  });

  it('switches Group monthly -> quarterly: credit unused month, charge a full quarter from today, new anchor', () => {
    // Credit: Group $1,500, 21 of 30 days unused: 150,000 x 21 / 30 = 105,000.
    // Charge: a new quarter starts at the change instant, billed in full: 420,000.
    // Net: 420,000 - 105,000 = 315,000. Anchor resets to Apr 10 12:00; the quarter ends Jul 10 12:00.
    const result = prorateChange({
      from: price('group', 'month'),
      fromQuantity: 1,
      to: price('group', 'quarter'),
      toQuantity: 1,
      period: APRIL,
      changeAt: DAY_10_OF_APRIL,
    });
    expect(result).toMatchObject({ credit: 105_000, charge: 420_000, net: 315_000, newAnchor: DAY_10_OF_APRIL });
    expect(result.newPeriod).toEqual({ start: DAY_10_OF_APRIL, end: '2031-07-10T12:00:00.000Z' });
    expect(result.lines[1]).toEqual({
      description: 'Group Coaching (quarterly) from 2031-04-10',
      periodStart: DAY_10_OF_APRIL,
      periodEnd: '2031-07-10T12:00:00.000Z',
      quantity: 1,
      unitAmount: 420_000,
      amount: 420_000,
    });
  });

  it('switches Elite monthly -> annual on day 10 of a 31-day month', () => {
    // Credit: 500,000 x 22 / 31 = 354,838.71 -> 354,839.
    // Charge: the annual price in full, a year from May 10: 5,400,000.
    // Net: 5,400,000 - 354,839 = 5,045,161.
    const result = prorateChange({
      from: price('elite', 'month'),
      fromQuantity: 1,
      to: price('elite', 'year'),
      toQuantity: 1,
      period: MAY,
      changeAt: DAY_10_OF_MAY,
    });
    expect(result).toMatchObject({ credit: 354_839, charge: 5_400_000, net: 5_045_161, newAnchor: DAY_10_OF_MAY });
    expect(result.newPeriod).toEqual({ start: DAY_10_OF_MAY, end: '2032-05-10T12:00:00.000Z' });
  });

  it('credits what was actually paid, not the list price', () => {
    // Paid $48.50 after a 50% coupon: 4,850 x 21 / 30 = 3,395.
    const coupon = prorateChange({
      from: price('community', 'month'),
      fromQuantity: 1,
      to: price('elite', 'month'),
      toQuantity: 1,
      period: APRIL,
      changeAt: DAY_10_OF_APRIL,
      paid: { amount: 4_850, start: APRIL.start, end: APRIL.end },
    });
    expect(coupon.credit).toBe(3_395);
    // Nothing paid (a trial): nothing to credit, and no credit line.
    const trial = prorateChange({
      from: price('community', 'month'),
      fromQuantity: 1,
      to: price('elite', 'month'),
      toQuantity: 1,
      period: APRIL,
      changeAt: DAY_10_OF_APRIL,
      paid: null,
    });
    expect(trial).toMatchObject({ credit: 0, charge: 350_000 });
    expect(trial.lines).toHaveLength(1);
  });

  it('credits a later change from the stub the earlier change paid for', () => {
    // After the day-10 upgrade, 350,000 covers Apr 10 -> May 1 (21 days). On Apr 20 (day 20),
    // 11 of those 21 days are unused: 350,000 x 11 / 21 = 183,333.33 -> 183,333.
    const { credit, split } = unusedTimeCredit({ amount: 350_000, start: DAY_10_OF_APRIL, end: APRIL.end }, '2031-04-20T09:00:00.000Z', 'USD');
    expect(split).toEqual({ daysInPeriod: 21, daysUsed: 10, daysUnused: 11 });
    expect(credit).toBe(183_333);
  });

  it('prorates seats: 1 -> 3 Community seats on day 10 of April', () => {
    // Credit 9,700 x 21 / 30 = 6,790; charge 3 x 9,700 = 29,100 x 21 / 30 = 20,370; net 13,580.
    const community = price('community', 'month');
    const result = prorateChange({ from: community, fromQuantity: 1, to: community, toQuantity: 3, period: APRIL, changeAt: DAY_10_OF_APRIL });
    expect(result).toMatchObject({ credit: 6_790, charge: 20_370, net: 13_580 });
    expect(result.lines[1]?.description).toBe('Remaining time on Community Access (monthly) x 3 (21 of 30 days)');
  });

  it('moves the billing anchor with proration', () => {
    // Community, April period paid in full; on Apr 10 the anchor moves to Apr 20 15:00.
    // Credit: 21 of 30 days unused: 6,790.
    // Stub Apr 10 -> Apr 20 = 10 days, a share of the full month ending at the new anchor
    // (Mar 20 -> Apr 20 = 31 days): 9,700 x 10 / 31 = 3,129.03 -> 3,129.
    // Net: 3,129 - 6,790 = -3,661 (the customer's credit balance).
    const result = prorateAnchorChange({
      price: price('community', 'month'),
      quantity: 1,
      period: APRIL,
      changeAt: DAY_10_OF_APRIL,
      newAnchor: '2031-04-20T15:00:00.000Z',
    });
    expect(result).toMatchObject({ credit: 6_790, charge: 3_129, net: -3_661, newAnchor: '2031-04-20T15:00:00.000Z' });
    expect(result.lines.map((l) => l.description)).toEqual([
      'Unused time on Community Access (monthly) (21 of 30 days)',
      'Remaining time on Community Access (monthly) (10 of 31 days)',
    ]);
  });

  it('refuses to prorate across currencies or outside the period', () => {
    expect(() =>
      prorateChange({ from: price('elite', 'month'), fromQuantity: 1, to: price('elite', 'month', 'EUR'), toQuantity: 1, period: APRIL, changeAt: DAY_10_OF_APRIL }),
    ).toThrow('cannot prorate USD into EUR');
    expect(() =>
      prorateChange({ from: price('elite', 'month'), fromQuantity: 1, to: price('elite', 'year'), toQuantity: 1, period: APRIL, changeAt: MAY.start }),
    ).toThrow(RangeError);
  });
});

describe('proration properties', () => {
  const plans = fc.constantFrom(
    ...(
      [
        ['community', 'month'],
        ['community', 'year'],
        ['group', 'month'],
        ['group', 'quarter'],
        ['elite', 'month'],
        ['elite', 'year'],
      ] as const
    ).map(([plan, interval]) => price(plan, interval)),
  );
  const anchor = fc
    .date({ min: new Date('2000-01-01T00:00:00Z'), max: new Date('2090-01-01T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString());
  const scenario = fc.record({
    from: plans,
    to: plans,
    fromQuantity: fc.integer({ min: 1, max: 50 }),
    toQuantity: fc.integer({ min: 1, max: 50 }),
    anchor,
    index: fc.integer({ min: 0, max: 30 }),
    offset: fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    paidShare: fc.integer({ min: 0, max: 100 }),
  });

  it('never charges more than the full new price for the period, never credits more than was paid', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const period = billingPeriod(s.anchor, s.from.interval, s.index);
        const start = Date.parse(period.start);
        const changeAt = new Date(start + Math.floor((Date.parse(period.end) - start) * s.offset)).toISOString();
        const paidAmount = Math.floor((s.from.unitAmount * s.fromQuantity * s.paidShare) / 100);
        const result = prorateChange({
          from: s.from,
          fromQuantity: s.fromQuantity,
          to: s.to,
          toQuantity: s.toQuantity,
          period,
          changeAt,
          paid: { amount: paidAmount, start: period.start, end: period.end },
        });
        expect(result.charge).toBeGreaterThanOrEqual(0);
        expect(result.charge).toBeLessThanOrEqual(s.to.unitAmount * s.toQuantity);
        expect(result.credit).toBeGreaterThanOrEqual(0);
        expect(result.credit).toBeLessThanOrEqual(paidAmount);
        expect(result.net).toBe(result.charge - result.credit);
        expect(result.lines.reduce((t, l) => t + l.amount, 0)).toBe(result.net);
        expect(result.daysUsed + result.daysUnused).toBe(result.daysInPeriod);
      }),
    );
  });

  it('anchor changes keep to the same bounds', () => {
    fc.assert(
      fc.property(plans, fc.integer({ min: 1, max: 20 }), anchor, fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (p, quantity, a, at, to) => {
        const period = billingPeriod(a, p.interval, 0);
        const start = Date.parse(period.start);
        const changeAt = new Date(start + Math.floor((Date.parse(period.end) - start) * at)).toISOString();
        const latest = Date.parse(billingPeriod(changeAt, p.interval, 0).end);
        const newAnchor = new Date(Date.parse(changeAt) + 1 + Math.floor((latest - Date.parse(changeAt) - 1) * to)).toISOString();
        const result = prorateAnchorChange({ price: p, quantity, period, changeAt, newAnchor });
        expect(result.charge).toBeLessThanOrEqual(p.unitAmount * quantity);
        expect(result.credit).toBeLessThanOrEqual(p.unitAmount * quantity);
        expect(result.lines.reduce((t, l) => t + l.amount, 0)).toBe(result.net);
      }),
    );
  });
});
