// Double-entry bookkeeping rules. Every business event becomes one journal entry whose debits
// equal its credits; entries are append-only and identified by the event, so posting twice is
// a no-op at the database.
import type { Currency } from './money';

export type Account =
  | 'accounts_receivable'
  | 'revenue'
  | 'tax_payable' // VAT/GST collected for the tax authorities
  | 'customer_credit' // credit balance we owe customers, applied to their next invoices
  | 'bad_debt' // receivables written off as uncollectible
  | `cash:${string}`; // cash held at a gateway, e.g. cash:stripe, or at the bank (cash:bank)

export interface LedgerLine {
  readonly account: Account;
  readonly debit: number; // minor units, >= 0
  readonly credit: number; // minor units, >= 0
}

export type JournalEntryKind =
  | 'invoice_issued'
  | 'payment_received'
  | 'credit_note_issued'
  | 'refund_paid'
  | 'customer_credit_granted'
  | 'customer_credit_applied'
  | 'write_off';

export interface JournalEntry {
  readonly id: string;
  readonly kind: JournalEntryKind;
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

// Later business events. Each is its own balanced entry named after the event, so every
// reversal is a new entry and the ledger stays append-only. Zero lines are left out.

function nonZero(lines: readonly LedgerLine[]): LedgerLine[] {
  return lines.filter((l) => l.debit !== 0 || l.credit !== 0);
}

/** Issuing an invoice that carries tax: the tax is owed to the authorities, not revenue. */
export function taxedInvoiceIssuedEntry(invoice: { id: string; currency: Currency; total: number; tax: number; issuedAt: string }): JournalEntry {
  return assertBalanced({
    id: `je_invoice_${invoice.id}`,
    kind: 'invoice_issued',
    currency: invoice.currency,
    occurredAt: invoice.issuedAt,
    invoiceId: invoice.id,
    lines: [
      { account: 'accounts_receivable', debit: invoice.total, credit: 0 },
      { account: 'revenue', debit: 0, credit: invoice.total - invoice.tax },
      ...nonZero([{ account: 'tax_payable', debit: 0, credit: invoice.tax }]),
    ],
  });
}

/** One of several payments towards an invoice (e.g. a bank transfer on NET terms). */
export function partialPaymentEntry(payment: {
  paymentId: string;
  invoiceId: string;
  method: string; // gateway name or 'bank'
  currency: Currency;
  amount: number;
  receivedAt: string;
}): JournalEntry {
  if (payment.amount <= 0) throw new UnbalancedEntryError(`payment ${payment.paymentId}: amount must be positive`);
  return assertBalanced({
    id: `je_payment_${payment.paymentId}`,
    kind: 'payment_received',
    currency: payment.currency,
    occurredAt: payment.receivedAt,
    invoiceId: payment.invoiceId,
    lines: [
      { account: `cash:${payment.method}`, debit: payment.amount, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: payment.amount },
    ],
  });
}

/** A credit note reverses (part of) an invoice: revenue and tax go back, the receivable shrinks. */
export function creditNoteEntry(note: { id: string; invoiceId: string; currency: Currency; amount: number; tax: number; issuedAt: string }): JournalEntry {
  return assertBalanced({
    id: `je_credit_note_${note.id}`,
    kind: 'credit_note_issued',
    currency: note.currency,
    occurredAt: note.issuedAt,
    invoiceId: note.invoiceId,
    lines: nonZero([
      { account: 'revenue', debit: note.amount - note.tax, credit: 0 },
      { account: 'tax_payable', debit: note.tax, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: note.amount },
    ]),
  });
}

/** Money paid back to the customer through the gateway that took it. */
export function refundEntry(refund: { id: string; invoiceId: string; gateway: string; currency: Currency; amount: number; refundedAt: string }): JournalEntry {
  return assertBalanced({
    id: `je_refund_${refund.id}`,
    kind: 'refund_paid',
    currency: refund.currency,
    occurredAt: refund.refundedAt,
    invoiceId: refund.invoiceId,
    lines: [
      { account: 'accounts_receivable', debit: refund.amount, credit: 0 },
      { account: `cash:${refund.gateway}`, debit: 0, credit: refund.amount },
    ],
  });
}

/** An overpaid invoice's excess kept as the customer's credit balance instead of refunded. */
export function customerCreditGrantedEntry(grant: { id: string; invoiceId: string; currency: Currency; amount: number; at: string }): JournalEntry {
  return assertBalanced({
    id: `je_credit_granted_${grant.id}`,
    kind: 'customer_credit_granted',
    currency: grant.currency,
    occurredAt: grant.at,
    invoiceId: grant.invoiceId,
    lines: [
      { account: 'accounts_receivable', debit: grant.amount, credit: 0 },
      { account: 'customer_credit', debit: 0, credit: grant.amount },
    ],
  });
}

/** The customer's credit balance paying (part of) a new invoice. */
export function customerCreditAppliedEntry(use: { id: string; invoiceId: string; currency: Currency; amount: number; at: string }): JournalEntry {
  return assertBalanced({
    id: `je_credit_applied_${use.id}`,
    kind: 'customer_credit_applied',
    currency: use.currency,
    occurredAt: use.at,
    invoiceId: use.invoiceId,
    lines: [
      { account: 'customer_credit', debit: use.amount, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: use.amount },
    ],
  });
}

/** Giving up on a receivable: the loss is bad debt; revenue and tax already booked stay. */
export function writeOffEntry(writeOff: { id: string; invoiceId: string; currency: Currency; amount: number; at: string }): JournalEntry {
  return assertBalanced({
    id: `je_write_off_${writeOff.id}`,
    kind: 'write_off',
    currency: writeOff.currency,
    occurredAt: writeOff.at,
    invoiceId: writeOff.invoiceId,
    lines: [
      { account: 'bad_debt', debit: writeOff.amount, credit: 0 },
      { account: 'accounts_receivable', debit: 0, credit: writeOff.amount },
    ],
  });
}
