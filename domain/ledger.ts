// Double-entry bookkeeping rules. Every business event becomes one journal entry whose debits
// equal its credits; entries are append-only and identified by the event, so posting twice is
// a no-op at the database.
import type { Currency } from './money';

export type Account =
  | 'accounts_receivable'
  | 'revenue'
  | `cash:${string}`; // cash held at a gateway, e.g. cash:stripe

export interface LedgerLine {
  readonly account: Account;
  readonly debit: number; // minor units, >= 0
  readonly credit: number; // minor units, >= 0
}

export interface JournalEntry {
  readonly id: string;
  readonly kind: 'invoice_issued' | 'payment_received';
  readonly currency: Currency;
  readonly occurredAt: string;
  readonly invoiceId: string;
  readonly lines: readonly LedgerLine[];
}

export class UnbalancedEntryError extends Error {}

export function assertBalanced(entry: JournalEntry): JournalEntry {
  let debits = 0;
  let credits = 0;
  for (const line of entry.lines) {
    if (!Number.isSafeInteger(line.debit) || !Number.isSafeInteger(line.credit) || line.debit < 0 || line.credit < 0) {
      throw new UnbalancedEntryError(`entry ${entry.id}: amounts must be non-negative integers`);
    }
    debits += line.debit;
    credits += line.credit;
  }
  if (debits !== credits) throw new UnbalancedEntryError(`entry ${entry.id}: debits ${debits} != credits ${credits}`);
  return entry;
}

/** Issuing an invoice: the customer owes us; revenue is recognised for the period billed. */
export function invoiceIssuedEntry(invoice: { id: string; currency: Currency; total: number; issuedAt: string }): JournalEntry {
  return assertBalanced({
    id: `je_invoice_${invoice.id}`,
    kind: 'invoice_issued',
    currency: invoice.currency,
    occurredAt: invoice.issuedAt,
    invoiceId: invoice.id,
    lines: [
      { account: 'accounts_receivable', debit: invoice.total, credit: 0 },
      { account: 'revenue', debit: 0, credit: invoice.total },
    ],
  });
}

/** A payment settles the receivable into cash at the gateway that took the money. */
export function paymentReceivedEntry(payment: {
  idempotencyKey: string;
  invoiceId: string;
  gateway: string;
  currency: Currency;
  amount: number;
  receivedAt: string;
}): JournalEntry {
  return assertBalanced({
    id: `je_payment_${payment.idempotencyKey}`,
    kind: 'payment_received',
    currency: payment.currency,
    occurredAt: payment.receivedAt,
    invoiceId: payment.invoiceId,
    lines: [
      { account: `cash:${payment.gateway}`, debit: payment.amount, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: payment.amount },
    ],
  });
}
