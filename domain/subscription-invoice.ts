// A subscription's invoices, built from plain data so the workflow (which decides what to bill)
// and the tests agree to the cent. Order of operations, written down once:
//   1. the period's line (price x quantity), then any proration lines carried from earlier
//      changes (negative credits for unused time, positive charges);
//   2. the coupon, when its duration covers this period, on what the positive lines cost
//      (credits are never discounted: they give back what was paid, already discounted);
//   3. tax per line under the customer's treatment (a credit line carries negative tax, so a
//      credit for unused time also gives back the tax paid on it);
//   4. credit carried from an earlier invoice, already taxed there, is added after tax;
//   5. if the total is below zero, nothing is charged and the customer keeps the difference as a
//      credit line on the next invoice (see carryOver): money is never paid out automatically.
import { priceLabel, type PriceSnapshot } from './catalog';
import type { BillingPeriod } from './calendar';
import { applyCouponForPeriod, type Coupon } from './discounts';
import type { Invoice, InvoiceLine } from './invoice';
import { lineAmount } from './invoice';
import { buildInvoice } from './invoice-totals';
import { applyTaxToLines, type TaxTreatment } from './tax';

export interface RedeemedCoupon {
  readonly coupon: Coupon;
  /** Regular periods already billed since the coupon was redeemed (0 = the next one is the first). */
  readonly periodsBilled: number;
}

/** Invoice ids: renewals by anchor epoch and period; changes by their sequence number. */
export function subscriptionInvoiceId(subscriptionId: string, what: { epoch: number; periodIndex: number } | { change: number }): string {
  const base = subscriptionId.replace(/^sub_/, '');
  if ('change' in what) return `in_${base}_c${String(what.change).padStart(3, '0')}`;
  // Epoch 0 keeps the ids of the first version of the workflow (in_<id>_0000).
  const epoch = what.epoch === 0 ? '' : `e${what.epoch}_`;
  return `in_${base}_${epoch}${String(what.periodIndex).padStart(4, '0')}`;
}

export function periodLine(price: PriceSnapshot, quantity: number, period: { start: string; end: string }): InvoiceLine {
  return {
    description: priceLabel(price),
    periodStart: period.start,
    periodEnd: period.end,
    quantity,
    unitAmount: price.unitAmount,
    amount: lineAmount(quantity, price.unitAmount),
  };
}

export interface SubscriptionInvoiceInput {
  readonly id: string;
  readonly subscriptionId: string;
  readonly customerId: string;
  readonly currency: PriceSnapshot['currency'];
  readonly issuedAt: string;
  /** The period the invoice is for (null for a change invoice that covers only part of one). */
  readonly period: Pick<BillingPeriod, 'start' | 'end'> | null;
  /** Lines before discounts and tax: the period's line and/or proration lines. */
  readonly lines: readonly InvoiceLine[];
  /** Credit carried from an earlier invoice (carryOver): already taxed, added after tax. */
  readonly balance?: readonly InvoiceLine[];
  /** Applied to regular period invoices only; proration invoices carry no coupon. */
  readonly coupon: RedeemedCoupon | null;
  readonly tax: TaxTreatment | null;
}

export interface SubscriptionInvoice {
  readonly invoice: Invoice;
  /** Credit left over when the lines add up to less than zero; carried to the next invoice. */
  readonly carryOver: InvoiceLine | null;
}

export function buildSubscriptionInvoice(input: SubscriptionInvoiceInput): SubscriptionInvoice {
  const discounted = applyCouponForPeriod(input.lines, input.coupon?.coupon ?? null, input.coupon?.periodsBilled ?? 0, input.currency);
  const taxed = input.tax ? applyTaxToLines(discounted, input.tax) : discounted;
  const draft = {
    id: input.id,
    customerId: input.customerId,
    subscriptionId: input.subscriptionId,
    currency: input.currency,
    issuedAt: input.issuedAt,
    // Card subscriptions are charged automatically on issue.
    dueAt: input.issuedAt,
    periodStart: input.period?.start ?? null,
    periodEnd: input.period?.end ?? null,
  };
  const withBalance = [...taxed, ...(input.balance ?? [])];
  const invoice = buildInvoice({ ...draft, lines: withBalance });
  if (invoice.total >= 0) return { invoice, carryOver: null };
  // More credit than charge: this invoice nets to zero and the rest waits for the next one.
  const remaining = -invoice.total;
  const balanceLine: InvoiceLine = {
    description: 'Credit carried to the next invoice',
    periodStart: null,
    periodEnd: null,
    quantity: 1,
    unitAmount: remaining,
    amount: remaining,
  };
  const carryOver: InvoiceLine = { ...balanceLine, description: 'Credit from the previous invoice', unitAmount: -remaining, amount: -remaining };
  return { invoice: buildInvoice({ ...draft, lines: [...withBalance, balanceLine] }), carryOver };
}
