// Billing periods follow the calendar from an anchor instant, in UTC. Period n starts at
// anchor + n intervals, computed from the anchor every time (never from the previous period),
// so a month-end anchor clamps without drifting: Jan 31 -> Feb 28 (29) -> Mar 31 -> Apr 30.

export const BILLING_INTERVALS = ['month', 'quarter', 'year'] as const;
export type BillingInterval = (typeof BILLING_INTERVALS)[number];

const MONTHS_PER_INTERVAL: Record<BillingInterval, number> = { month: 1, quarter: 3, year: 12 };
export const DAY_MS = 86_400_000;

export function monthsIn(interval: BillingInterval): number {
  return MONTHS_PER_INTERVAL[interval];
}

export interface BillingPeriod {
  readonly index: number;
  readonly start: string; // ISO 8601 instant, UTC
  readonly end: string; // exclusive: the start of the next period
}

export function daysInMonth(year: number, monthIndex0: number): number {
  return new Date(Date.UTC(year, monthIndex0 + 1, 0)).getUTCDate();
}

/** The same wall-clock time `months` calendar months later, the day clamped to the month's end. */
export function addMonthsClamped(instant: Date, months: number): Date {
  if (!Number.isInteger(months)) throw new RangeError(`months must be an integer, got ${months}`);
  const totalMonths = instant.getUTCFullYear() * 12 + instant.getUTCMonth() + months;
  const year = Math.floor(totalMonths / 12);
  const month = totalMonths - year * 12;
  const day = Math.min(instant.getUTCDate(), daysInMonth(year, month));
  return new Date(
    Date.UTC(
      year,
      month,
      day,
      instant.getUTCHours(),
      instant.getUTCMinutes(),
      instant.getUTCSeconds(),
      instant.getUTCMilliseconds(),
    ),
  );
}

export function periodStart(anchor: string, interval: BillingInterval, index: number): string {
  return addMonthsClamped(new Date(anchor), index * monthsIn(interval)).toISOString();
}

export function billingPeriod(anchor: string, interval: BillingInterval, index: number): BillingPeriod {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`period index must be >= 0, got ${index}`);
  return {
    index,
    start: periodStart(anchor, interval, index),
    end: periodStart(anchor, interval, index + 1),
  };
}

/** The index of the period that contains `at` (0 before or at the anchor). */
export function periodIndexAt(anchor: string, interval: BillingInterval, at: string): number {
  const target = Date.parse(at);
  // An estimate from the average month length, then corrected by at most a step either way.
  const approxMonths = (target - Date.parse(anchor)) / (DAY_MS * 30.436875);
  let index = Math.max(0, Math.floor(approxMonths / monthsIn(interval)));
  while (index > 0 && Date.parse(periodStart(anchor, interval, index)) > target) index--;
  while (Date.parse(periodStart(anchor, interval, index + 1)) <= target) index++;
  return index;
}

/** Whole days between two instants' UTC calendar dates (end exclusive). */
export function daysBetween(start: string, end: string): number {
  const startDay = Date.UTC(...utcYmd(start));
  const endDay = Date.UTC(...utcYmd(end));
  return Math.round((endDay - startDay) / DAY_MS);
}

function utcYmd(iso: string): [number, number, number] {
  const d = new Date(iso);
  return [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()];
}

export function addDays(instant: string, days: number): string {
  return new Date(Date.parse(instant) + days * DAY_MS).toISOString();
}

export function isoDate(instant: string): string {
  return instant.slice(0, 10);
}
