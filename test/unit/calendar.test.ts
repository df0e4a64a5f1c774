import fc from 'fast-check';
import { addMonthsClamped, billingPeriod, daysBetween, daysInMonth, periodIndexAt, periodStart } from '../../domain/calendar';

const iso = (s: string) => new Date(s).toISOString();

describe('calendar', () => {
  it('knows month lengths, leap years included', () => {
    expect(daysInMonth(2031, 1)).toBe(28);
    expect(daysInMonth(2032, 1)).toBe(29);
    expect(daysInMonth(2100, 1)).toBe(28); // divisible by 100, not by 400
    expect(daysInMonth(2000, 1)).toBe(29); // divisible by 400
    expect(daysInMonth(2031, 3)).toBe(30);
    expect(daysInMonth(2031, 11)).toBe(31);
  });

  it('clamps a Jan 31 anchor to each month end without drifting', () => {
    const anchor = '2032-01-31T09:30:00.000Z';
    const starts = Array.from({ length: 13 }, (_, i) => periodStart(anchor, 'month', i));
    expect(starts).toEqual([
      '2032-01-31T09:30:00.000Z',
      '2032-02-29T09:30:00.000Z', // leap year
      '2032-03-31T09:30:00.000Z',
      '2032-04-30T09:30:00.000Z',
      '2032-05-31T09:30:00.000Z',
      '2032-06-30T09:30:00.000Z',
      '2032-07-31T09:30:00.000Z',
      '2032-08-31T09:30:00.000Z',
      '2032-09-30T09:30:00.000Z',
      '2032-10-31T09:30:00.000Z',
      '2032-11-30T09:30:00.000Z',
      '2032-12-31T09:30:00.000Z',
      '2033-01-31T09:30:00.000Z',
    ]);
  });

  it('steps quarters and years from the anchor', () => {
    expect(billingPeriod('2031-11-30T00:00:00.000Z', 'quarter', 0)).toEqual({
      index: 0,
      start: '2031-11-30T00:00:00.000Z',
      end: '2032-02-29T00:00:00.000Z',
    });
    expect(periodStart('2031-11-30T00:00:00.000Z', 'quarter', 2)).toBe('2032-05-30T00:00:00.000Z');
    expect(periodStart('2032-02-29T12:00:00.000Z', 'year', 1)).toBe('2033-02-28T12:00:00.000Z');
    expect(periodStart('2032-02-29T12:00:00.000Z', 'year', 4)).toBe('2036-02-29T12:00:00.000Z');
  });

  it('adds negative months', () => {
    expect(addMonthsClamped(new Date('2031-03-31T00:00:00Z'), -1).toISOString()).toBe('2031-02-28T00:00:00.000Z');
    expect(addMonthsClamped(new Date('2031-01-15T00:00:00Z'), -13).toISOString()).toBe('2029-12-15T00:00:00.000Z');
  });

  it('finds the period containing an instant', () => {
    const anchor = '2031-01-31T15:00:00.000Z';
    expect(periodIndexAt(anchor, 'month', '2031-01-31T15:00:00.000Z')).toBe(0);
    expect(periodIndexAt(anchor, 'month', '2031-02-28T14:59:59.999Z')).toBe(0);
    expect(periodIndexAt(anchor, 'month', '2031-02-28T15:00:00.000Z')).toBe(1);
    expect(periodIndexAt(anchor, 'month', '2032-01-31T15:00:00.000Z')).toBe(12);
    expect(periodIndexAt(anchor, 'month', '2020-01-01T00:00:00.000Z')).toBe(0);
  });

  it('counts calendar days', () => {
    expect(daysBetween('2031-02-01T23:00:00Z', '2031-03-01T01:00:00Z')).toBe(28);
    expect(daysBetween('2032-02-01T00:00:00Z', '2032-03-01T00:00:00Z')).toBe(29);
  });

  it('rejects a negative period index', () => {
    expect(() => billingPeriod(iso('2031-01-01'), 'month', -1)).toThrow(RangeError);
  });

  const instant = fc
    .date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2090-12-31T00:00:00Z'), noInvalidDate: true })
    .map((d) => d.toISOString());
  const interval = fc.constantFrom('month' as const, 'quarter' as const, 'year' as const);

  it('property: periods are contiguous, increasing and 28-366 days long', () => {
    fc.assert(
      fc.property(instant, interval, fc.integer({ min: 0, max: 200 }), (anchor, iv, index) => {
        const p = billingPeriod(anchor, iv, index);
        const next = billingPeriod(anchor, iv, index + 1);
        expect(next.start).toBe(p.end);
        const days = daysBetween(p.start, p.end);
        const bounds = { month: [28, 31], quarter: [89, 92], year: [365, 366] }[iv];
        expect(days).toBeGreaterThanOrEqual(bounds[0]!);
        expect(days).toBeLessThanOrEqual(bounds[1]!);
      }),
    );
  });

  it('property: a period start keeps the anchor day unless the month is shorter, and the time of day always', () => {
    fc.assert(
      fc.property(instant, fc.integer({ min: 0, max: 600 }), (anchor, index) => {
        const start = new Date(periodStart(anchor, 'month', index));
        const a = new Date(anchor);
        expect(start.getUTCDate()).toBe(Math.min(a.getUTCDate(), daysInMonth(start.getUTCFullYear(), start.getUTCMonth())));
        expect(start.toISOString().slice(11)).toBe(a.toISOString().slice(11));
      }),
    );
  });

  it('property: periodIndexAt finds the period containing the instant', () => {
    fc.assert(
      fc.property(instant, interval, fc.integer({ min: 0, max: 40 * 366 * 86_400_000 }), (anchor, iv, offset) => {
        const at = new Date(Date.parse(anchor) + offset).toISOString();
        const p = billingPeriod(anchor, iv, periodIndexAt(anchor, iv, at));
        expect(Date.parse(p.start)).toBeLessThanOrEqual(Date.parse(at));
        expect(Date.parse(at)).toBeLessThan(Date.parse(p.end));
      }),
    );
  });
});
