// The customer's credit balance: what credit notes gave beyond what their invoices owed
// (booked to customer_credit), used up by the next invoices as they are issued, oldest first.
// The balance is read from the ledger, so it can never disagree with the books.
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { applyCustomerCredit, newInvoiceBalance } from '../domain/credit-notes';
import { isCurrency } from '../domain/money';
import { postJournalEntry } from './ledger';

/** The customer's unused credit in one currency (minor units). */
export async function availableCustomerCredit(db: CommonQueryMethods, customerId: string, currency: string): Promise<number> {
  return db.oneFirst(sql.type(z.object({ available: z.number() }))`
    SELECT coalesce(sum(l.credit - l.debit), 0)::int8 AS available
    FROM ledger_lines l
    JOIN ledger_entries e ON e.id = l.entry_id
    JOIN invoices i ON i.id = e.invoice_id
    WHERE l.account = 'customer_credit' AND i.customer_id = ${customerId} AND e.currency = ${currency}`);
}

const issuedInvoiceRow = z.object({
  id: z.string(),
  customer_id: z.string(),
  currency: z.string(),
  total: z.number(),
  owed: z.number(),
});

/**
 * Uses the customer's credit for a newly issued invoice, in the caller's transaction: as much as
 * it still owes, once (the ledger entry's id is the invoice's). Returns what was applied.
 */
export async function applyCreditToIssuedInvoice(tx: CommonQueryMethods, invoiceId: string, at: string): Promise<number> {
  const invoice = await tx.maybeOne(sql.type(issuedInvoiceRow)`
    SELECT id, customer_id, currency::text AS currency, total,
           (total - amount_paid - amount_credited - amount_credit_applied)::int8 AS owed
    FROM invoices WHERE id = ${invoiceId} AND status = 'open'`);
  if (!invoice || invoice.owed <= 0 || !isCurrency(invoice.currency)) return 0;
  // One invoice at a time per customer: two invoices issued together must not spend the same credit.
  await tx.query(sql.unsafe`SELECT id FROM customers WHERE id = ${invoice.customer_id} FOR UPDATE`);
  const available = await availableCustomerCredit(tx, invoice.customer_id, invoice.currency);
  if (available <= 0) return 0;
  const balance = { ...newInvoiceBalance({ id: invoice.id, currency: invoice.currency, total: invoice.total }), paid: invoice.total - invoice.owed };
  const decision = applyCustomerCredit(balance, { id: invoice.id, available, at });
  if (!decision.ok) return 0;
  let posted = false;
  for (const entry of decision.entries) posted = (await postJournalEntry(tx, entry)) || posted;
  if (!posted) return 0; // applied before (a retried activity)
  await tx.query(sql.unsafe`
    UPDATE invoices SET amount_credit_applied = amount_credit_applied + ${decision.applied},
      status = CASE WHEN ${decision.applied} >= ${invoice.owed} THEN 'paid' ELSE status END,
      paid_at = CASE WHEN ${decision.applied} >= ${invoice.owed} THEN ${at}::timestamptz ELSE paid_at END
    WHERE id = ${invoice.id}`);
  return decision.applied;
}
