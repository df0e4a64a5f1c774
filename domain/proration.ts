// Proration of a change in the middle of a paid billing period, by whole calendar days.
//
// DAYS. Days are UTC calendar days (domain/calendar daysBetween). The period has
// daysInPeriod = daysBetween(period.start, period.end) days. The days before the change's
// calendar date are used; the day of the change and every day after it are unused, so the
// customer gets the new plan for the whole day they change. "Upgrade on day 10" means the change
// happens on the 10th calendar day of the period: days 1-9 are used, day 10 onwards is unused
// (21 unused days in a 30-day month, 22 in a 31-day month).
//
// ROUNDING. Each figure is one exact ratio rounded once, half away from zero, by multiplyRatio:
//   credit = amount paid                x unused paid days / paid days
//   charge = new unit price x quantity  x unused days / days in period
// The credit is computed from what was actually paid and for which days (after coupons,
// before tax; nothing during a trial): for a plain renewal that is the whole period at the full
// price, after an earlier mid-period change it is what that change charged for the rest of the
// period. A credit can therefore never exceed what the customer paid, and the charge can never
// exceed the full new price for the period. Credit and charge are rounded separately (never
// the net), so each line on the invoice is exactly the figure its description states.
//
// INTERVAL SWITCH: the old period's unused days are credited as above, and a fresh period of the
// new interval starts at the moment of the change, charged in full; the billing-cycle anchor
// resets to the change instant. Same interval: the period and the anchor stay, and only the rest
// of the period is charged at the new price. (domain/lifecycle applies only switches to a longer
// interval now; annual -> monthly waits for the end of the paid year, where nothing is prorated.)
//
// A negative net (credit larger than charge) is the customer's: it is settled by a credit note on
// the invoice that paid the period (domain/credit-notes issueCreditNote), which keeps it as credit
// balance for the next invoices; it is never paid out to the card automatically.
import { addMonthsClamped, daysBetween, isoDate, monthsIn, periodStart, type BillingPeriod } from './calendar';
import { priceLabel, type PriceSnapshot } from './catalog';
import type { InvoiceLine } from './invoice';
import { lineAmount } from './invoice';
import { money, multiplyRatio } from './money';

export interface ProrationInput {
  readonly from: PriceSnapshot;
  readonly fromQuantity: number;
  readonly to: PriceSnapshot;
  readonly toQuantity: number;
  /** The current, paid-for period. */
  readonly period: BillingPeriod;
  readonly changeAt: string;
  /**
   * What was actually paid and for which days; defaults to from.unitAmount x fromQuantity for
   * the whole period. null when nothing was paid (a trial): nothing is credited.
   */
  readonly paid?: PaidCoverage | null;
}

/** An amount paid (after discounts, before tax) for the days from start to end. */
export interface PaidCoverage {
  readonly amount: number;
  readonly start: string;
  readonly end: string;
}

export interface ProrationResult {
  readonly effectiveAt: string;
  readonly daysInPeriod: number;
  readonly daysUsed: number;
  readonly daysUnused: number;
  /** Credited for the unused days of the old price (>= 0). */
  readonly credit: number;
  /** Charged for the new price (>= 0). */
  readonly charge: number;
  /** charge - credit: due now when positive, customer credit balance when negative. */
  readonly net: number;
  /** Invoice lines: the credit (negative amount) then the charge; zero lines are left out. */
  readonly lines: readonly InvoiceLine[];
  /** The period the new price covers once the change applies. */
  readonly newPeriod: { readonly start: string; readonly end: string };
  /** The new billing-cycle anchor when the change restarts the cycle, else null (anchor kept). */
  readonly newAnchor: string | null;
}

export interface DaySplit {
  readonly daysInPeriod: number;
  readonly daysUsed: number;
  readonly daysUnused: number;
}

/** Used and unused whole days of a period at an instant inside it. */
export function splitPeriodDays(period: { start: string; end: string }, at: string): DaySplit {
  if (!isWithin(period, at)) throw new RangeError(`${at} is not inside the period ${period.start} - ${period.end}`);
  const daysInPeriod = daysBetween(period.start, period.end);
  const daysUsed = Math.min(daysBetween(period.start, at), daysInPeriod);
  return { daysInPeriod, daysUsed, daysUnused: daysInPeriod - daysUsed };
}

export function isWithin(period: { start: string; end: string }, at: string): boolean {
  const t = Date.parse(at);
  return Date.parse(period.start) <= t && t < Date.parse(period.end);
}

export interface UnusedCredit {
  readonly credit: number;
  /** The paid days, and those of them from the change onwards. */
  readonly split: DaySplit;
}

/**
 * Credit for the unused days of what was paid: paid x unused days / paid days. Never more than
 * was paid, and nothing once the paid days are over.
 */
export function unusedTimeCredit(paid: PaidCoverage | null, at: string, currency: PriceSnapshot['currency']): UnusedCredit {
  const covered = paid ? daysBetween(paid.start, paid.end) : 0;
  if (!paid || paid.amount <= 0 || covered <= 0 || Date.parse(at) >= Date.parse(paid.end)) {
    return { credit: 0, split: { daysInPeriod: covered, daysUsed: covered, daysUnused: 0 } };
  }
  const from = Date.parse(at) < Date.parse(paid.start) ? paid.start : at;
  const daysUnused = Math.min(Math.max(daysBetween(from, paid.end), 0), covered);
  const split = { daysInPeriod: covered, daysUsed: covered - daysUnused, daysUnused };
  return { credit: multiplyRatio(money(paid.amount, currency), daysUnused, covered).amount, split };
}

/** The whole period paid at the price's full amount: what a regular renewal pays for. */
export function fullPeriodCoverage(price: PriceSnapshot, quantity: number, period: { start: string; end: string }): PaidCoverage {
  return { amount: lineAmount(quantity, price.unitAmount), start: period.start, end: period.end };
}

/** Charge for the unused days at a price: unit x quantity x unused / days. */
export function remainingTimeCharge(price: PriceSnapshot, quantity: number, split: DaySplit): number {
  if (split.daysInPeriod === 0) return 0;
  return multiplyRatio(money(lineAmount(quantity, price.unitAmount), price.currency), split.daysUnused, split.daysInPeriod).amount;
}

function seats(quantity: number): string {
  return quantity === 1 ? '' : ` x ${quantity}`;
}

export function creditLine(price: PriceSnapshot, quantity: number, credit: number, split: DaySplit, from: string, to: string): InvoiceLine {
  return {
    description: `Unused time on ${priceLabel(price)}${seats(quantity)} (${split.daysUnused} of ${split.daysInPeriod} days)`,
    periodStart: from,
    periodEnd: to,
    quantity: 1,
    unitAmount: -credit,
    amount: -credit,
  };
}

export function remainingTimeLine(price: PriceSnapshot, quantity: number, charge: number, split: DaySplit, from: string, to: string): InvoiceLine {
  return {
    description: `Remaining time on ${priceLabel(price)}${seats(quantity)} (${split.daysUnused} of ${split.daysInPeriod} days)`,
    periodStart: from,
    periodEnd: to,
    quantity: 1,
    unitAmount: charge,
    amount: charge,
  };
}

/** Credit the old price's unused days and charge the new price, per the rules at the top. */
export function prorateChange(input: ProrationInput): ProrationResult {
  const { from, to, period, changeAt } = input;
  if (from.currency !== to.currency) throw new RangeError(`cannot prorate ${from.currency} into ${to.currency}`);
  const split = splitPeriodDays(period, changeAt);
  const paid = input.paid === undefined ? fullPeriodCoverage(from, input.fromQuantity, period) : input.paid;
  const { credit, split: paidSplit } = unusedTimeCredit(paid, changeAt, from.currency);
  const lines: InvoiceLine[] = [];
  if (credit !== 0 && paid) lines.push(creditLine(from, input.fromQuantity, credit, paidSplit, changeAt, paid.end));

  const restarts = from.interval !== to.interval;
  let charge: number;
  let newPeriod: { start: string; end: string };
  if (restarts) {
    newPeriod = { start: changeAt, end: periodStart(changeAt, to.interval, 1) };
    charge = lineAmount(input.toQuantity, to.unitAmount);
    lines.push({
      description: `${priceLabel(to)} from ${isoDate(changeAt)}`,
      periodStart: newPeriod.start,
      periodEnd: newPeriod.end,
      quantity: input.toQuantity,
      unitAmount: to.unitAmount,
      amount: charge,
    });
  } else {
    newPeriod = { start: period.start, end: period.end };
    charge = remainingTimeCharge(to, input.toQuantity, split);
    if (charge !== 0) lines.push(remainingTimeLine(to, input.toQuantity, charge, split, changeAt, period.end));
  }
  return {
    effectiveAt: changeAt,
    ...split,
    credit,
    charge,
    net: charge - credit,
    lines,
    newPeriod,
    newAnchor: restarts ? changeAt : null,
  };
}

/**
 * Moving the billing-cycle anchor to `newAnchor` (after the change, at most one interval
 * away): the unused days of the current period are credited, and the stub from the change to
 * the new anchor is charged as a share of the full period that ends at the new anchor
 * (price x stub days / days of that period). Full periods are then billed from the new anchor.
 */
export function prorateAnchorChange(input: {
  readonly price: PriceSnapshot;
  readonly quantity: number;
  readonly period: BillingPeriod;
  readonly changeAt: string;
  readonly newAnchor: string;
  readonly paid?: PaidCoverage | null;
}): ProrationResult {
  const { price, quantity, period, changeAt, newAnchor } = input;
  if (Date.parse(newAnchor) <= Date.parse(changeAt)) throw new RangeError('the new anchor must be after the change');
  const split = splitPeriodDays(period, changeAt);
  const paid = input.paid === undefined ? fullPeriodCoverage(price, quantity, period) : input.paid;
  const { credit, split: paidSplit } = unusedTimeCredit(paid, changeAt, price.currency);

  const fullPeriodStart = addMonthsClamped(new Date(newAnchor), -monthsIn(price.interval)).toISOString();
  const fullDays = daysBetween(fullPeriodStart, newAnchor);
  // Month-end clamping can make the stub a day longer than that period; it is never billed above one full period.
  const stubDays = Math.min(daysBetween(changeAt, newAnchor), fullDays);
  const stub: DaySplit = { daysInPeriod: fullDays, daysUsed: fullDays - stubDays, daysUnused: stubDays };
  const charge = remainingTimeCharge(price, quantity, stub);

  const lines: InvoiceLine[] = [];
  if (credit !== 0 && paid) lines.push(creditLine(price, quantity, credit, paidSplit, changeAt, paid.end));
  if (charge !== 0) lines.push(remainingTimeLine(price, quantity, charge, stub, changeAt, newAnchor));
  return {
    effectiveAt: changeAt,
    ...split,
    credit,
    charge,
    net: charge - credit,
    lines,
    newPeriod: { start: changeAt, end: newAnchor },
    newAnchor,
  };
}
