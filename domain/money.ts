// Money is an integer count of minor units (cents, pence) plus an ISO 4217 currency code.
// Never a float: every amount that crosses a boundary is checked to be a safe integer.

export const CURRENCIES = ['USD', 'EUR', 'GBP'] as const;
export type Currency = (typeof CURRENCIES)[number];

export interface Money {
  readonly amount: number; // integer minor units
  readonly currency: Currency;
}

export class MoneyError extends Error {}

export function isCurrency(value: string): value is Currency {
  return (CURRENCIES as readonly string[]).includes(value);
}

export function money(amount: number, currency: Currency): Money {
  if (!Number.isSafeInteger(amount)) {
    throw new MoneyError(`amount must be an integer number of minor units, got ${amount}`);
  }
  if (!isCurrency(currency)) throw new MoneyError(`unsupported currency ${String(currency)}`);
  return { amount, currency };
}

function sameCurrency(a: Money, b: Money): void {
  if (a.currency !== b.currency) {
    throw new MoneyError(`cannot combine ${a.currency} with ${b.currency}`);
  }
}

export function add(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return money(a.amount + b.amount, a.currency);
}

export function subtract(a: Money, b: Money): Money {
  sameCurrency(a, b);
  return money(a.amount - b.amount, a.currency);
}

export function sum(currency: Currency, items: readonly Money[]): Money {
  return items.reduce((total, item) => add(total, item), money(0, currency));
}

export function negate(a: Money): Money {
  return money(-a.amount, a.currency);
}

/**
 * The one rounding rule of the project: half away from zero, applied to an exact rational
 * numerator / denominator of minor units. Every fractional amount (proration, percentage
 * discounts, tax) goes through here so that a cent is never created or lost in two ways.
 */
export function roundHalfAwayFromZero(numerator: number, denominator: number): number {
  if (!Number.isSafeInteger(numerator) || !Number.isSafeInteger(denominator) || denominator === 0) {
    throw new MoneyError(`invalid ratio ${numerator}/${denominator}`);
  }
  const sign = Math.sign(numerator) * Math.sign(denominator);
  const n = Math.abs(numerator);
  const d = Math.abs(denominator);
  const quotient = Math.floor(n / d);
  const remainder = n - quotient * d;
  return sign * (remainder * 2 >= d ? quotient + 1 : quotient);
}

/** amount * numerator / denominator, rounded once by the project's rule. */
export function multiplyRatio(a: Money, numerator: number, denominator: number): Money {
  return money(roundHalfAwayFromZero(a.amount * numerator, denominator), a.currency);
}

/** A percentage given in basis points (1% = 100 bp) keeps discounts and tax rates integral. */
export function percentOf(a: Money, basisPoints: number): Money {
  return multiplyRatio(a, basisPoints, 10_000);
}

const MINOR_UNITS: Record<Currency, number> = { USD: 2, EUR: 2, GBP: 2 };
const SYMBOLS: Record<Currency, string> = { USD: '$', EUR: '€', GBP: '£' };

/** Display only: "$97.00", "-€12.50". Never parse this back. */
export function formatMoney(a: Money): string {
  const digits = MINOR_UNITS[a.currency];
  const scale = 10 ** digits;
  const abs = Math.abs(a.amount);
  const major = Math.floor(abs / scale).toLocaleString('en-US');
  const minor = String(abs % scale).padStart(digits, '0');
  return `${a.amount < 0 ? '-' : ''}${SYMBOLS[a.currency]}${major}.${minor}`;
}
