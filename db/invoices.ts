import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { applyCreditToIssuedInvoice } from './customer-credit';
import { allocateInvoiceNumber } from './invoice-numbers';
import type { Invoice } from '../domain/invoice';
import { invoiceTotals } from '../domain/invoice-totals';
import { invoiceIssuedEntry, taxedInvoiceIssuedEntry } from '../domain/ledger';
import { postJournalEntry } from './ledger';

/**
 * Inserts an issued invoice, its lines, a gap-free number and its ledger entry in one
 * transaction. A second call for the same invoice id changes nothing and returns the stored number.
 */
export async function recordIssuedInvoice(pool: DatabasePool, invoice: Invoice, legalEntity = 'default'): Promise<{ number: string }> {
  return pool.transaction(async (tx) => {
    const existing = await tx.maybeOneFirst(sql.type(z.object({ number: z.string() }))`
      SELECT number FROM invoices WHERE id = ${invoice.id}`);
    if (existing) return { number: existing };
    const number = await allocateInvoiceNumber(tx, legalEntity);
    const { tax } = invoiceTotals(invoice.lines);
    await tx.query(sql.unsafe`
      INSERT INTO invoices (id, number, legal_entity, customer_id, subscription_id, status, currency, subtotal, tax, total,
                            issued_at, due_at, period_start, period_end)
      VALUES (${invoice.id}, ${number}, ${legalEntity}, ${invoice.customerId}, ${invoice.subscriptionId}, 'open',
              ${invoice.currency}, ${invoice.subtotal}, ${tax}, ${invoice.total}, ${invoice.issuedAt}::timestamptz,
              ${invoice.dueAt}::timestamptz, ${invoice.periodStart}::timestamptz, ${invoice.periodEnd}::timestamptz)`);
    for (const [position, line] of invoice.lines.entries()) {
      await tx.query(sql.unsafe`
        INSERT INTO invoice_lines (invoice_id, position, description, period_start, period_end, quantity, unit_amount, amount,
                                   discount_amount, discount_description, tax_amount, tax_rate_basis_points, tax_label)
        VALUES (${invoice.id}, ${position}, ${line.description}, ${line.periodStart}::timestamptz,
                ${line.periodEnd}::timestamptz, ${line.quantity}, ${line.unitAmount}, ${line.amount},
                ${line.discountAmount ?? 0}, ${line.discountDescription ?? null}, ${line.taxAmount ?? 0},
                ${line.taxRateBasisPoints ?? null}, ${line.taxLabel ?? null})`);
    }
    // Tax collected is owed to the tax authority, not revenue.
    await postJournalEntry(tx, tax === 0 ? invoiceIssuedEntry(invoice) : taxedInvoiceIssuedEntry({ ...invoice, tax }));
    // The customer's credit balance pays what it can, as the invoice is issued (the charge takes the rest).
    await applyCreditToIssuedInvoice(tx, invoice.id, invoice.issuedAt);
    return { number };
  });
}

export const invoiceRow = z.object({
  id: z.string(),
  number: z.string(),
  customer_id: z.string(),
  subscription_id: z.string().nullable(),
  status: z.string(),
  currency: z.string(),
  total: z.number(),
  amount_paid: z.number(),
  issued_at: z.string(),
  paid_at: z.string().nullable(),
  period_start: z.string().nullable(),
  period_end: z.string().nullable(),
});
export type InvoiceRow = z.infer<typeof invoiceRow>;

export async function listSubscriptionInvoices(db: CommonQueryMethods, subscriptionId: string): Promise<readonly InvoiceRow[]> {
  return db.any(sql.type(invoiceRow)`
    SELECT id, number, customer_id, subscription_id, status, currency, total, amount_paid, issued_at, paid_at,
           period_start, period_end
    FROM invoices WHERE subscription_id = ${subscriptionId} ORDER BY issued_at`);
}

/**
 * What is still owed on an invoice: its total less what was paid, what credit notes took off (a
 * credit note may be issued while the invoice is still being collected) and what the customer's
 * credit balance paid. Null when unknown.
 */
export async function amountStillOwed(db: CommonQueryMethods, invoiceId: string): Promise<number | null> {
  return db.maybeOneFirst(sql.type(z.object({ owed: z.number() }))`
    SELECT CASE WHEN status = 'open' THEN total - amount_paid - amount_credited - amount_credit_applied ELSE 0 END AS owed
    FROM invoices WHERE id = ${invoiceId}`);
}

export async function markInvoicePaid(db: CommonQueryMethods, invoiceId: string, amount: number, paidAt: string): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE invoices SET status = 'paid', amount_paid = amount_paid + ${amount}, paid_at = ${paidAt}::timestamptz
    WHERE id = ${invoiceId} AND status = 'open'`);
}
