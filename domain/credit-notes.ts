// Credit notes, refunds, write-offs and credit balances against one invoice, as decisions that
// either explain why they cannot happen or say exactly which ledger entries to post.
//
// A refund is always a credit note settled in cash: revenue and tax are reversed by the credit
// note, and the cash leaves by the refund entry. A credit note first reduces what is still due on
// the invoice; whatever it frees beyond that is paid back (when a refund is asked for, at most
// what was paid) or kept as the customer's credit balance, so the invoice's receivable never goes
// below zero.
//
// The tax share of a credit is cumulative: after crediting C of an invoice of total T with tax X,
// round(X * C / T) of tax has been credited. Each note takes the difference, so the credits of
// an invoice add up to exactly its tax once it is fully credited.
import {
  creditNoteEntry,
  customerCreditAppliedEntry,
  customerCreditGrantedEntry,
  partialPaymentEntry,
  refundEntry,
  writeOffEntry,
  type JournalEntry,
} from './ledger';
import { roundHalfAwayFromZero, type Currency } from './money';

/** Everything that has happened to one invoice's money so far (tax-inclusive figures). */
export interface InvoiceBalance {
  readonly invoiceId: string;
  readonly currency: Currency;
  readonly total: number;
  readonly tax: number;
  /** Cash received, all payments together. */
  readonly paid: number;
  /** Customer credit balance used to pay it. */
  readonly creditApplied: number;
  /** Sum of credit notes, and the tax part of them. */
  readonly credited: number;
  readonly taxCredited: number;
  readonly refunded: number;
  /** Excess credit kept as the customer's balance. */
  readonly creditGranted: number;
  readonly writtenOff: number;
}

export function newInvoiceBalance(invoice: { id: string; currency: Currency; total: number; tax?: number }): InvoiceBalance {
  return {
    invoiceId: invoice.id,
    currency: invoice.currency,
    total: invoice.total,
    tax: invoice.tax ?? 0,
    paid: 0,
    creditApplied: 0,
    credited: 0,
    taxCredited: 0,
    refunded: 0,
    creditGranted: 0,
    writtenOff: 0,
  };
}

/** What the customer still owes on the invoice; equals its accounts-receivable balance. */
export function amountOwed(b: InvoiceBalance): number {
  return b.total - b.credited - b.writtenOff - b.paid - b.creditApplied + b.refunded + b.creditGranted;
}

export interface CreditNote {
  readonly id: string;
  readonly invoiceId: string;
  readonly currency: Currency;
  readonly amount: number; // tax included
  readonly tax: number;
  readonly reason: string;
  readonly issuedAt: string;
  /** How the amount was settled: less to pay, cash back, or credit balance. */
  readonly reducedAmountDue: number;
  readonly refunded: number;
  readonly creditedToBalance: number;
}

export type Decision<T> = ({ readonly ok: true } & T) | { readonly ok: false; readonly reason: string };

type Settled = { readonly balance: InvoiceBalance; readonly entries: readonly JournalEntry[] };

function positiveInteger(amount: number): boolean {
  return Number.isSafeInteger(amount) && amount > 0;
}

/**
 * Issues a credit note for `amount` of the invoice. `refund` (default 0) is the part to pay back
 * through `gateway`; the rest reduces what is due, and anything beyond that becomes credit balance.
 */
export function issueCreditNote(
  balance: InvoiceBalance,
  request: { id: string; amount: number; reason: string; at: string; refund?: number; gateway?: string },
): Decision<Settled & { readonly creditNote: CreditNote }> {
  const refund = request.refund ?? 0;
  // A written-off part was never paid, so crediting it could only hand out money never received.
  const creditable = balance.total - balance.credited - balance.writtenOff;
  const refundable = balance.paid - balance.refunded;
  if (!positiveInteger(request.amount)) return { ok: false, reason: 'a credit note must be for a positive whole number of minor units' };
  if (balance.total <= 0) return { ok: false, reason: `invoice ${balance.invoiceId} has nothing to credit` };
  if (request.amount > creditable) {
    return { ok: false, reason: `cannot credit ${request.amount}: only ${creditable} of invoice ${balance.invoiceId} is left to credit` };
  }
  if (!Number.isSafeInteger(refund) || refund < 0 || refund > request.amount) {
    return { ok: false, reason: 'the refunded part must be between zero and the credit note amount' };
  }
  if (refund > refundable) {
    return { ok: false, reason: `cannot refund ${refund}: only ${refundable} was paid on invoice ${balance.invoiceId} and not yet refunded` };
  }
  const gateway = request.gateway;
  if (refund > 0 && !gateway) return { ok: false, reason: 'a refund needs the gateway that took the payment' };

  const credited = balance.credited + request.amount;
  const taxCredited = roundHalfAwayFromZero(balance.tax * credited, balance.total);
  const tax = taxCredited - balance.taxCredited;
  const owedBefore = Math.max(0, amountOwed(balance));
  const reducedAmountDue = Math.min(owedBefore, request.amount - refund);
  const creditedToBalance = request.amount - refund - reducedAmountDue;

  const entries: JournalEntry[] = [
    creditNoteEntry({ id: request.id, invoiceId: balance.invoiceId, currency: balance.currency, amount: request.amount, tax, issuedAt: request.at }),
  ];
  if (refund > 0 && gateway) {
    entries.push(refundEntry({ id: request.id, invoiceId: balance.invoiceId, gateway, currency: balance.currency, amount: refund, refundedAt: request.at }));
  }
  if (creditedToBalance > 0) {
    entries.push(customerCreditGrantedEntry({ id: request.id, invoiceId: balance.invoiceId, currency: balance.currency, amount: creditedToBalance, at: request.at }));
  }
  return {
    ok: true,
    creditNote: {
      id: request.id,
      invoiceId: balance.invoiceId,
      currency: balance.currency,
      amount: request.amount,
      tax,
      reason: request.reason,
      issuedAt: request.at,
      reducedAmountDue,
      refunded: refund,
      creditedToBalance,
    },
    balance: {
      ...balance,
      credited,
      taxCredited,
      refunded: balance.refunded + refund,
      creditGranted: balance.creditGranted + creditedToBalance,
    },
    entries,
  };
}

/** A full or partial refund of what was paid: a credit note for the amount, paid back in cash. */
export function refundPayment(
  balance: InvoiceBalance,
  request: { id: string; amount?: number; reason: string; at: string; gateway: string },
): Decision<Settled & { readonly creditNote: CreditNote }> {
  const amount = request.amount ?? balance.paid - balance.refunded;
  if (amount <= 0 && request.amount === undefined) return { ok: false, reason: `invoice ${balance.invoiceId} has no payment left to refund` };
  return issueCreditNote(balance, { id: request.id, amount, reason: request.reason, at: request.at, refund: amount, gateway: request.gateway });
}

/** A payment towards the invoice; refuses to take more than is owed. */
export function applyPayment(
  balance: InvoiceBalance,
  payment: { id: string; amount: number; method: string; at: string },
): Decision<Settled & { readonly amountOwed: number }> {
  const owed = amountOwed(balance);
  if (!positiveInteger(payment.amount)) return { ok: false, reason: 'a payment must be a positive whole number of minor units' };
  if (owed <= 0) return { ok: false, reason: `invoice ${balance.invoiceId} is already settled` };
  if (payment.amount > owed) {
    return { ok: false, reason: `payment of ${payment.amount} exceeds the ${owed} still owed on invoice ${balance.invoiceId}` };
  }
  const next = { ...balance, paid: balance.paid + payment.amount };
  return {
    ok: true,
    balance: next,
    amountOwed: amountOwed(next),
    entries: [
      partialPaymentEntry({
        paymentId: payment.id,
        invoiceId: balance.invoiceId,
        method: payment.method,
        currency: balance.currency,
        amount: payment.amount,
        receivedAt: payment.at,
      }),
    ],
  };
}

/** Uses as much of the customer's credit balance as the invoice needs. */
export function applyCustomerCredit(
  balance: InvoiceBalance,
  request: { id: string; available: number; at: string },
): Decision<Settled & { readonly applied: number; readonly remainingCredit: number }> {
  const applied = Math.min(Math.max(0, request.available), Math.max(0, amountOwed(balance)));
  if (applied === 0) return { ok: false, reason: request.available <= 0 ? 'the customer has no credit balance' : `invoice ${balance.invoiceId} has nothing owed` };
  return {
    ok: true,
    applied,
    remainingCredit: request.available - applied,
    balance: { ...balance, creditApplied: balance.creditApplied + applied },
    entries: [customerCreditAppliedEntry({ id: request.id, invoiceId: balance.invoiceId, currency: balance.currency, amount: applied, at: request.at })],
  };
}

/** Writes off what is still owed (or part of it) as bad debt, e.g. once dunning gives up. */
export function writeOffInvoice(balance: InvoiceBalance, request: { id: string; at: string; amount?: number }): Decision<Settled> {
  const owed = amountOwed(balance);
  const amount = request.amount ?? owed;
  if (owed <= 0) return { ok: false, reason: `invoice ${balance.invoiceId} has nothing owed to write off` };
  if (!positiveInteger(amount) || amount > owed) {
    return { ok: false, reason: `can write off between 1 and ${owed} on invoice ${balance.invoiceId}, not ${amount}` };
  }
  return {
    ok: true,
    balance: { ...balance, writtenOff: balance.writtenOff + amount },
    entries: [writeOffEntry({ id: request.id, invoiceId: balance.invoiceId, currency: balance.currency, amount, at: request.at })],
  };
}
