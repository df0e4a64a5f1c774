// Invoices are built here from a price snapshot and a billing period, with no I/O, so the
// workflow (which decides what to bill) and the activities (which persist it) agree exactly.
import type { BillingInterval, BillingPeriod } from './calendar';
import type { PriceSnapshot } from './catalog';
import type { Currency } from './money';

export interface InvoiceLine {
  readonly description: string;
  readonly periodStart: string | null;
  readonly periodEnd: string | null;
  readonly quantity: number;
  readonly unitAmount: number; // minor units
  readonly amount: number; // quantity * unitAmount, minor units
  // Optional, absent on plain renewals; see domain/invoice-totals.ts for how they add up.
  /** Minor units taken off `amount` by bundle tiers and coupons (>= 0, at most `amount`). */
  readonly discountAmount?: number;
  readonly discountDescription?: string;
  /** Tax on this line: added to it when exclusive, contained in it when inclusive. */
  readonly taxAmount?: number;
  readonly taxRateBasisPoints?: number;
  readonly taxInclusive?: boolean;
  /** e.g. "VAT 20% (GB)" or "Reverse charge: VAT to be accounted for by the recipient". */
  readonly taxLabel?: string;
  readonly reverseCharge?: boolean;
}

export interface Invoice {
  /** Deterministic from the subscription and period, so a replayed or retried step reuses it. */
  readonly id: string;
  readonly customerId: string;
  readonly subscriptionId: string | null;
  readonly currency: Currency;
  readonly lines: readonly InvoiceLine[];
  readonly subtotal: number;
  readonly total: number;
  readonly issuedAt: string;
  readonly dueAt: string;
  readonly periodStart: string | null;
  readonly periodEnd: string | null;
}

const INTERVAL_ADJECTIVE: Record<BillingInterval, string> = { month: 'monthly', quarter: 'quarterly', year: 'annual' };

export function renewalInvoiceId(subscriptionId: string, periodIndex: number): string {
  return `in_${subscriptionId.replace(/^sub_/, '')}_${String(periodIndex).padStart(4, '0')}`;
}

export function lineAmount(quantity: number, unitAmount: number): number {
  const amount = quantity * unitAmount;
  if (!Number.isSafeInteger(amount)) throw new RangeError(`line amount ${quantity} x ${unitAmount} is not a safe integer`);
  return amount;
}

export function invoiceTotal(lines: readonly InvoiceLine[]): number {
  return lines.reduce((total, line) => total + line.amount, 0);
}

export function buildRenewalInvoice(args: {
  subscriptionId: string;
  customerId: string;
  price: PriceSnapshot;
  period: BillingPeriod;
  quantity?: number;
}): Invoice {
  const { subscriptionId, customerId, price, period } = args;
  const quantity = args.quantity ?? 1;
  const line: InvoiceLine = {
    description: `${price.productName} (${INTERVAL_ADJECTIVE[price.interval]})`,
    periodStart: period.start,
    periodEnd: period.end,
    quantity,
    unitAmount: price.unitAmount,
    amount: lineAmount(quantity, price.unitAmount),
  };
  const total = invoiceTotal([line]);
  return {
    id: renewalInvoiceId(subscriptionId, period.index),
    customerId,
    subscriptionId,
    currency: price.currency,
    lines: [line],
    subtotal: total,
    total,
    issuedAt: period.start,
    // Card subscriptions are charged automatically on issue.
    dueAt: period.start,
    periodStart: period.start,
    periodEnd: period.end,
  };
}
