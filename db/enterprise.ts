// Enterprise invoices (NET terms) in PostgreSQL: the issued invoice with its lines, seats and
// tax; payments towards it, each with its ledger entry; its collection status; voiding; and the
// notices it enqueues. Every write is idempotent: an activity may run it again.
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { allocateInvoiceNumber } from './invoice-numbers';
import type { Invoice } from '../domain/invoice';
import { creditNoteEntry, partialPaymentEntry, taxedInvoiceIssuedEntry } from '../domain/ledger';
import type { Currency } from '../domain/money';
import { postJournalEntry } from './ledger';

export type CollectionStatus = 'open' | 'partially_paid' | 'past_due' | 'paid' | 'void';
export type InvoicePaymentMethod = 'bank_transfer' | 'card';

export interface IssuedEnterpriseInvoice {
  readonly invoice: Invoice;
  /** Sum of the lines' tax (domain/invoice-totals.ts), part of invoice.total. */
  readonly tax: number;
  readonly contractId: string;
  readonly workflowId: string;
  readonly termMonths: number;
  readonly netDays: number;
  readonly taxCountry: string | null;
  /** Per line, in order: priced per seat or per item. */
  readonly units: readonly ('seat' | 'item')[];
}

/**
 * Inserts the invoice, its lines, a gap-free number (the same per-legal-entity counter as
 * db/invoices.ts, bumped in the same transaction so a rollback gives the number back), its
 * enterprise record and its taxed ledger entry. A second call returns the stored number.
 */
export async function recordIssuedEnterpriseInvoice(
  pool: DatabasePool,
  issued: IssuedEnterpriseInvoice,
  legalEntity = 'default',
): Promise<{ number: string }> {
  const { invoice } = issued;
  return pool.transaction(async (tx) => {
    const existing = await tx.maybeOneFirst(sql.type(z.object({ number: z.string() }))`
      SELECT number FROM invoices WHERE id = ${invoice.id}`);
    if (existing) return { number: existing };
    const number = await allocateInvoiceNumber(tx, legalEntity);
    await tx.query(sql.unsafe`
      INSERT INTO invoices (id, number, legal_entity, customer_id, subscription_id, status, currency, subtotal, tax, total,
                            issued_at, due_at, period_start, period_end)
      VALUES (${invoice.id}, ${number}, ${legalEntity}, ${invoice.customerId}, NULL, 'open',
              ${invoice.currency}, ${invoice.subtotal}, ${issued.tax}, ${invoice.total}, ${invoice.issuedAt}::timestamptz,
              ${invoice.dueAt}::timestamptz, ${invoice.periodStart}::timestamptz, ${invoice.periodEnd}::timestamptz)`);
    for (const [position, line] of invoice.lines.entries()) {
      await tx.query(sql.unsafe`
        INSERT INTO invoice_lines (invoice_id, position, description, period_start, period_end, quantity, unit_amount, amount,
                                   tax_amount, tax_rate_basis_points, tax_label, unit)
        VALUES (${invoice.id}, ${position}, ${line.description}, ${line.periodStart}::timestamptz,
                ${line.periodEnd}::timestamptz, ${line.quantity}, ${line.unitAmount}, ${line.amount},
                ${line.taxAmount ?? 0}, ${line.taxRateBasisPoints ?? null}, ${line.taxLabel ?? null},
                ${issued.units[position] ?? null})`);
    }
    await tx.query(sql.unsafe`
      INSERT INTO enterprise_invoices (invoice_id, contract_id, workflow_id, term_months, net_days, tax_country, collection_status)
      VALUES (${invoice.id}, ${issued.contractId}, ${issued.workflowId}, ${issued.termMonths}, ${issued.netDays},
              ${issued.taxCountry}, 'open')`);
    await postJournalEntry(
      tx,
      taxedInvoiceIssuedEntry({ id: invoice.id, currency: invoice.currency, total: invoice.total, tax: issued.tax, issuedAt: invoice.issuedAt }),
    );
    return { number };
  });
}

export interface InvoicePaymentRecord {
  /** Names the payment and its ledger entry (je_payment_<id>); chosen by the workflow. */
  readonly paymentId: string;
  readonly invoiceId: string;
  readonly reference: string;
  readonly method: InvoicePaymentMethod;
  readonly amount: number;
  readonly currency: Currency;
  readonly receivedAt: string;
  /** The gateway that took a card payment and its reference there (PaymentIntent id). */
  readonly gateway: string | null;
  readonly gatewayReference: string | null;
}

const lockedInvoice = z.object({ status: z.string(), total: z.number(), amount_paid: z.number(), currency: z.string(), owed: z.number() });

/** The ledger account a payment's cash lands in: the gateway's for cards, the bank's for transfers. */
export function cashAccountMethod(payment: { method: InvoicePaymentMethod; gateway: string | null }): string {
  return payment.method === 'card' ? (payment.gateway ?? 'stripe') : 'bank';
}

/**
 * Records a payment towards an open invoice once: the payment row, its ledger entry (debit
 * cash, credit accounts_receivable), the invoice's amount paid, and 'paid' once nothing is
 * owed. A repeat of the same payment id changes nothing. Taking more than is owed is refused.
 */
export async function recordInvoicePayment(
  pool: DatabasePool,
  payment: InvoicePaymentRecord,
): Promise<{ readonly recorded: boolean; readonly amountPaid: number; readonly status: string }> {
  return pool.transaction(async (tx) => {
    // The row lock orders concurrent payments on the same invoice.
    const invoice = await tx.maybeOne(sql.type(lockedInvoice)`
      SELECT status, total, amount_paid, currency::text AS currency,
             (total - amount_paid - amount_credited - amount_credit_applied)::int8 AS owed
      FROM invoices WHERE id = ${payment.invoiceId} FOR UPDATE`);
    if (!invoice) throw new Error(`invoice ${payment.invoiceId} does not exist`);
    const inserted = await tx.maybeOne(sql.unsafe`
      INSERT INTO invoice_payments (id, invoice_id, reference, method, amount, currency, received_at, gateway, gateway_reference)
      VALUES (${payment.paymentId}, ${payment.invoiceId}, ${payment.reference}, ${payment.method}, ${payment.amount},
              ${payment.currency}, ${payment.receivedAt}::timestamptz, ${payment.gateway}, ${payment.gatewayReference})
      ON CONFLICT (id) DO NOTHING RETURNING id`);
    if (!inserted) return { recorded: false, amountPaid: invoice.amount_paid, status: invoice.status };
    if (invoice.status !== 'open') throw new Error(`invoice ${payment.invoiceId} is ${invoice.status}: it takes no payment`);
    if (invoice.currency !== payment.currency) throw new Error(`payment in ${payment.currency} for an invoice in ${invoice.currency}`);
    // Still owed: what credit notes and the customer's credit balance took off is not paid again.
    if (payment.amount > invoice.owed) {
      throw new Error(`payment of ${payment.amount} exceeds the ${invoice.owed} still owed on invoice ${payment.invoiceId}`);
    }
    const amountPaid = invoice.amount_paid + payment.amount;
    const status = payment.amount === invoice.owed ? 'paid' : 'open';
    await tx.query(sql.unsafe`
      UPDATE invoices SET amount_paid = ${amountPaid}, status = ${status},
        paid_at = CASE WHEN ${status} = 'paid' THEN ${payment.receivedAt}::timestamptz ELSE paid_at END
      WHERE id = ${payment.invoiceId}`);
    // Paid in full closes collection; a part payment leaves a past-due invoice past due.
    await tx.query(sql.unsafe`
      UPDATE enterprise_invoices SET updated_at = now(),
        collection_status = CASE WHEN ${status} = 'paid' THEN 'paid'
                                 WHEN collection_status = 'open' THEN 'partially_paid'
                                 ELSE collection_status END
      WHERE invoice_id = ${payment.invoiceId}`);
    await postJournalEntry(
      tx,
      partialPaymentEntry({
        paymentId: payment.paymentId,
        invoiceId: payment.invoiceId,
        method: cashAccountMethod(payment),
        currency: payment.currency,
        amount: payment.amount,
        receivedAt: payment.receivedAt,
      }),
    );
    return { recorded: true, amountPaid, status };
  });
}

/** Sets the collection status; a paid or void invoice keeps its final status (a late write loses). */
export async function setCollectionStatus(db: CommonQueryMethods, invoiceId: string, status: CollectionStatus, at: string): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE enterprise_invoices SET collection_status = ${status}, updated_at = now(),
      past_due_at = CASE WHEN ${status} = 'past_due' THEN coalesce(past_due_at, ${at}::timestamptz) ELSE past_due_at END
    WHERE invoice_id = ${invoiceId} AND collection_status NOT IN ('paid', 'void')`);
}

/**
 * Voids an unpaid invoice: status 'void' and a credit note for its whole amount, which takes the
 * revenue and tax back and clears the receivable. Refused once anything has been paid.
 */
export async function voidEnterpriseInvoice(pool: DatabasePool, request: { invoiceId: string; reason: string; at: string }): Promise<void> {
  await pool.transaction(async (tx) => {
    const invoice = await tx.maybeOne(sql.type(lockedInvoice.extend({ tax: z.number() }))`
      SELECT status, total, tax, amount_paid, currency::text AS currency,
             (total - amount_paid - amount_credited - amount_credit_applied)::int8 AS owed
      FROM invoices WHERE id = ${request.invoiceId} FOR UPDATE`);
    if (!invoice) throw new Error(`invoice ${request.invoiceId} does not exist`);
    if (invoice.status === 'void') return;
    if (invoice.status !== 'open' || invoice.amount_paid > 0) {
      throw new Error(`invoice ${request.invoiceId} is ${invoice.status} with ${invoice.amount_paid} paid: it cannot be voided`);
    }
    // Voiding credits the whole total; part of it already settled (credit notes, the customer's
    // balance) would be credited twice. Such an invoice is corrected with a credit note instead.
    if (invoice.owed !== invoice.total) {
      throw new Error(`invoice ${request.invoiceId} has ${invoice.total - invoice.owed} settled by credit: it cannot be voided; issue a credit note`);
    }
    await tx.query(sql.unsafe`UPDATE invoices SET status = 'void' WHERE id = ${request.invoiceId}`);
    await tx.query(sql.unsafe`
      UPDATE enterprise_invoices SET collection_status = 'void', voided_at = ${request.at}::timestamptz,
        void_reason = ${request.reason}, updated_at = now()
      WHERE invoice_id = ${request.invoiceId}`);
    if (invoice.total > 0) {
      await postJournalEntry(
        tx,
        creditNoteEntry({
          id: `void_${request.invoiceId}`,
          invoiceId: request.invoiceId,
          currency: invoice.currency as Currency,
          amount: invoice.total,
          tax: invoice.tax,
          issuedAt: request.at,
        }),
      );
    }
  });
}

// ---- Reads ----

const invoiceDetailRow = z.object({
  id: z.string(),
  number: z.string(),
  status: z.string(),
  customer_id: z.string(),
  customer_name: z.string(),
  customer_email: z.string(),
  customer_country: z.string().nullable(),
  subscription_id: z.string().nullable(),
  currency: z.string(),
  subtotal: z.number(),
  tax: z.number(),
  total: z.number(),
  amount_paid: z.number(),
  issued_at: z.string(),
  due_at: z.string(),
  paid_at: z.string().nullable(),
  period_start: z.string().nullable(),
  period_end: z.string().nullable(),
  contract_id: z.string().nullable(),
  net_days: z.number().nullable(),
  collection_status: z.string().nullable(),
  past_due_at: z.string().nullable(),
  voided_at: z.string().nullable(),
  void_reason: z.string().nullable(),
});

const invoiceLineRow = z.object({
  position: z.number(),
  description: z.string(),
  period_start: z.string().nullable(),
  period_end: z.string().nullable(),
  quantity: z.number(),
  unit_amount: z.number(),
  amount: z.number(),
  tax_amount: z.number(),
  tax_rate_basis_points: z.number().nullable(),
  tax_label: z.string().nullable(),
  unit: z.string().nullable(),
});

const invoicePaymentRow = z.object({
  id: z.string(),
  reference: z.string(),
  method: z.string(),
  amount: z.number(),
  currency: z.string(),
  received_at: z.string(),
  gateway: z.string().nullable(),
  gateway_reference: z.string().nullable(),
});

export interface InvoiceDetail {
  readonly id: string;
  readonly number: string;
  readonly status: string;
  readonly customer: { readonly id: string; readonly name: string; readonly email: string; readonly country: string | null };
  readonly subscriptionId: string | null;
  readonly currency: string;
  readonly subtotal: number;
  readonly tax: number;
  readonly total: number;
  readonly amountPaid: number;
  readonly amountDue: number;
  readonly issuedAt: string;
  readonly dueAt: string;
  readonly paidAt: string | null;
  readonly periodStart: string | null;
  readonly periodEnd: string | null;
  readonly lines: readonly {
    readonly position: number;
    readonly description: string;
    readonly periodStart: string | null;
    readonly periodEnd: string | null;
    readonly quantity: number;
    readonly unit: string | null;
    readonly unitAmount: number;
    readonly amount: number;
    readonly taxAmount: number;
    readonly taxRateBasisPoints: number | null;
    readonly taxLabel: string | null;
  }[];
  readonly payments: readonly {
    readonly id: string;
    readonly reference: string;
    readonly method: string;
    readonly amount: number;
    readonly receivedAt: string;
    readonly gateway: string | null;
    readonly gatewayReference: string | null;
  }[];
  /** Present for enterprise (NET terms) invoices. */
  readonly collection: {
    readonly contractId: string;
    readonly netDays: number;
    readonly status: string;
    readonly pastDueAt: string | null;
    readonly voidedAt: string | null;
    readonly voidReason: string | null;
  } | null;
}

/** An invoice with its customer, lines, payments and (for enterprise invoices) collection state. */
export async function findInvoiceDetail(db: CommonQueryMethods, invoiceId: string): Promise<InvoiceDetail | null> {
  const row = await db.maybeOne(sql.type(invoiceDetailRow)`
    SELECT i.id, i.number, i.status, i.customer_id, c.name AS customer_name, c.email AS customer_email,
           c.country::text AS customer_country, i.subscription_id, i.currency::text AS currency, i.subtotal, i.tax, i.total,
           i.amount_paid, i.issued_at, i.due_at, i.paid_at, i.period_start, i.period_end,
           e.contract_id, e.net_days, e.collection_status, e.past_due_at, e.voided_at, e.void_reason
    FROM invoices i
    JOIN customers c ON c.id = i.customer_id
    LEFT JOIN enterprise_invoices e ON e.invoice_id = i.id
    WHERE i.id = ${invoiceId}`);
  if (!row) return null;
  const lines = await db.any(sql.type(invoiceLineRow)`
    SELECT position, description, period_start, period_end, quantity, unit_amount, amount, tax_amount,
           tax_rate_basis_points, tax_label, unit
    FROM invoice_lines WHERE invoice_id = ${invoiceId} ORDER BY position`);
  const payments = await listInvoicePayments(db, invoiceId);
  return {
    id: row.id,
    number: row.number,
    status: row.status,
    customer: { id: row.customer_id, name: row.customer_name, email: row.customer_email, country: row.customer_country },
    subscriptionId: row.subscription_id,
    currency: row.currency,
    subtotal: row.subtotal,
    tax: row.tax,
    total: row.total,
    amountPaid: row.amount_paid,
    amountDue: row.status === 'void' ? 0 : row.total - row.amount_paid,
    issuedAt: row.issued_at,
    dueAt: row.due_at,
    paidAt: row.paid_at,
    periodStart: row.period_start,
    periodEnd: row.period_end,
    lines: lines.map((l) => ({
      position: l.position,
      description: l.description,
      periodStart: l.period_start,
      periodEnd: l.period_end,
      quantity: l.quantity,
      unit: l.unit,
      unitAmount: l.unit_amount,
      amount: l.amount,
      taxAmount: l.tax_amount,
      taxRateBasisPoints: l.tax_rate_basis_points,
      taxLabel: l.tax_label,
    })),
    payments: payments.map((p) => ({
      id: p.id,
      reference: p.reference,
      method: p.method,
      amount: p.amount,
      receivedAt: p.received_at,
      gateway: p.gateway,
      gatewayReference: p.gateway_reference,
    })),
    collection:
      row.contract_id !== null
        ? {
            contractId: row.contract_id,
            netDays: row.net_days ?? 0,
            status: row.collection_status ?? 'open',
            pastDueAt: row.past_due_at,
            voidedAt: row.voided_at,
            voidReason: row.void_reason,
          }
        : null,
  };
}

export async function listInvoicePayments(db: CommonQueryMethods, invoiceId: string) {
  return db.any(sql.type(invoicePaymentRow)`
    SELECT id, reference, method, amount, currency::text AS currency, received_at, gateway, gateway_reference
    FROM invoice_payments WHERE invoice_id = ${invoiceId} ORDER BY received_at, created_at, id`);
}
