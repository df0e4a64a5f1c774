// Credit notes and refunds in PostgreSQL. The decisions (how much may be credited or paid back,
// the tax share, how a note is settled, which ledger entries) are domain/credit-notes.ts's; this
// module reads an invoice's money under a row lock, writes the note, posts its entries and keeps
// the invoice's amount_credited / amount_refunded in step, each in the caller's transaction.
//
// A refund is written in two steps around the gateway call, so that nothing is lost and nothing
// is paid back twice: reserveRefund() writes a 'pending' note (its id is the gateway's
// idempotency key, and its amount is held against what may still be refunded), then
// settleRefund() records what the gateway said: 'succeeded' with its number and ledger entries,
// 'failed' with the gateway's reason, or still 'pending' (ask again with the same key).
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { amountOwed, issueCreditNote, refundPayment, type InvoiceBalance } from '../domain/credit-notes';
import { isCurrency, type Currency } from '../domain/money';
import type { GatewayName, RefundOutcome, RefundReason } from '../gateways/gateway';
import { postJournalEntry } from './ledger';

export type CreditNoteKind = 'credit' | 'refund';
export type CreditNoteStatus = 'pending' | 'succeeded' | 'failed';

export interface CreditNote {
  readonly id: string;
  /** Gap-free per legal entity ("DB-CN-000042"), given when the note is issued. */
  readonly number: string | null;
  readonly invoiceId: string;
  readonly kind: CreditNoteKind;
  readonly status: CreditNoteStatus;
  readonly reason: string;
  readonly memo: string | null;
  readonly currency: string;
  /** Tax included, minor units. */
  readonly amount: number;
  /** The tax share, once issued. */
  readonly tax: number | null;
  /** How the amount was settled, once issued. */
  readonly settlement: { readonly reducedAmountDue: number; readonly refunded: number; readonly creditedToBalance: number } | null;
  /** Refunds: the payment paid back, and the gateway's refund once it answered. */
  readonly refund: { readonly gateway: GatewayName; readonly paymentReference: string; readonly reference: string | null } | null;
  readonly failure: { readonly code: string | null; readonly message: string } | null;
  readonly createdAt: string;
  readonly issuedAt: string | null;
}

const creditNoteRow = z.object({
  id: z.string(),
  number: z.string().nullable(),
  invoice_id: z.string(),
  kind: z.enum(['credit', 'refund']),
  status: z.enum(['pending', 'succeeded', 'failed']),
  reason: z.string(),
  memo: z.string().nullable(),
  currency: z.string(),
  amount: z.number(),
  tax: z.number().nullable(),
  reduced_amount_due: z.number().nullable(),
  refunded: z.number().nullable(),
  credited_to_balance: z.number().nullable(),
  gateway: z.enum(['stripe', 'paypal']).nullable(),
  gateway_reference: z.string().nullable(),
  refund_reference: z.string().nullable(),
  failure_code: z.string().nullable(),
  failure_message: z.string().nullable(),
  created_at: z.string(),
  issued_at: z.string().nullable(),
});
type CreditNoteRow = z.infer<typeof creditNoteRow>;

const NOTE_COLUMNS = sql.fragment`
  id, number, invoice_id, kind, status, reason, memo, currency::text AS currency, amount, tax, reduced_amount_due, refunded,
  credited_to_balance, gateway, gateway_reference, refund_reference, failure_code, failure_message, created_at, issued_at`;

function toCreditNote(row: CreditNoteRow): CreditNote {
  const issued = row.status === 'succeeded';
  return {
    id: row.id,
    number: row.number,
    invoiceId: row.invoice_id,
    kind: row.kind,
    status: row.status,
    reason: row.reason,
    memo: row.memo,
    currency: row.currency,
    amount: row.amount,
    tax: row.tax,
    settlement: issued
      ? { reducedAmountDue: row.reduced_amount_due ?? 0, refunded: row.refunded ?? 0, creditedToBalance: row.credited_to_balance ?? 0 }
      : null,
    refund:
      row.kind === 'refund' && row.gateway && row.gateway_reference
        ? { gateway: row.gateway, paymentReference: row.gateway_reference, reference: row.refund_reference }
        : null,
    failure: row.failure_message !== null ? { code: row.failure_code, message: row.failure_message } : null,
    createdAt: row.created_at,
    issuedAt: row.issued_at,
  };
}

export async function findCreditNote(db: CommonQueryMethods, id: string): Promise<CreditNote | null> {
  const row = await db.maybeOne(sql.type(creditNoteRow)`SELECT ${NOTE_COLUMNS} FROM credit_notes WHERE id = ${id}`);
  return row ? toCreditNote(row) : null;
}

export async function listCreditNotes(db: CommonQueryMethods, invoiceId: string): Promise<readonly CreditNote[]> {
  const rows = await db.any(sql.type(creditNoteRow)`
    SELECT ${NOTE_COLUMNS} FROM credit_notes WHERE invoice_id = ${invoiceId} ORDER BY created_at, id`);
  return rows.map(toCreditNote);
}

/**
 * Refunds still pending after `olderThanSeconds` without a change: their request was never
 * retried (no Idempotency-Key) or the gateway settles them later. Oldest first.
 */
export async function listPendingRefunds(db: CommonQueryMethods, olderThanSeconds: number, limit = 100): Promise<readonly CreditNote[]> {
  const rows = await db.any(sql.type(creditNoteRow)`
    SELECT ${NOTE_COLUMNS} FROM credit_notes
    WHERE kind = 'refund' AND status = 'pending' AND updated_at <= now() - make_interval(secs => ${olderThanSeconds})
    ORDER BY created_at, id LIMIT ${limit}`);
  return rows.map(toCreditNote);
}

// ---------------------------------------------------------------------------------------------
// An invoice's money: the row, its notes so far, the gateway payments that could be refunded

const invoiceMoneyRow = z.object({
  id: z.string(),
  number: z.string(),
  legal_entity: z.string(),
  status: z.string(),
  currency: z.string(),
  total: z.number(),
  tax: z.number(),
  amount_paid: z.number(),
  amount_credited: z.number(),
  amount_refunded: z.number(),
  amount_credit_applied: z.number(),
});
type InvoiceMoney = z.infer<typeof invoiceMoneyRow>;

const noteSumsRow = z.object({
  credited: z.number(),
  tax_credited: z.number(),
  refunded: z.number(),
  credit_granted: z.number(),
  pending: z.number(),
});
type NoteSums = z.infer<typeof noteSumsRow>;

const refundablePaymentRow = z.object({
  gateway: z.enum(['stripe', 'paypal']),
  gateway_reference: z.string(),
  amount: z.number(),
  refunded: z.number(),
});
type RefundablePayment = z.infer<typeof refundablePaymentRow>;

interface InvoiceMoneyState {
  readonly invoice: InvoiceMoney;
  readonly currency: Currency;
  readonly sums: NoteSums;
  /** Newest first; `refunded` counts pending refunds too. */
  readonly payments: readonly RefundablePayment[];
}

/** The invoice and what has happened to its money; `lock` holds the invoice row until commit. */
async function invoiceMoneyState(db: CommonQueryMethods, invoiceId: string, lock: boolean): Promise<InvoiceMoneyState | null> {
  const invoice = await db.maybeOne(sql.type(invoiceMoneyRow)`
    SELECT id, number, legal_entity, status, currency::text AS currency, total, tax, amount_paid, amount_credited, amount_refunded,
           amount_credit_applied
    FROM invoices WHERE id = ${invoiceId} ${lock ? sql.fragment`FOR UPDATE` : sql.fragment``}`);
  if (!invoice) return null;
  if (!isCurrency(invoice.currency)) throw new Error(`invoice ${invoiceId} is in ${invoice.currency}, which the domain does not know`);
  const sums = await db.one(sql.type(noteSumsRow)`
    SELECT coalesce(sum(amount) FILTER (WHERE status = 'succeeded'), 0)::int8 AS credited,
           coalesce(sum(tax) FILTER (WHERE status = 'succeeded'), 0)::int8 AS tax_credited,
           coalesce(sum(refunded) FILTER (WHERE status = 'succeeded'), 0)::int8 AS refunded,
           coalesce(sum(credited_to_balance) FILTER (WHERE status = 'succeeded'), 0)::int8 AS credit_granted,
           coalesce(sum(amount) FILTER (WHERE status = 'pending'), 0)::int8 AS pending
    FROM credit_notes WHERE invoice_id = ${invoiceId}`);
  // Succeeded gateway payments (charges and enterprise card payments both write an attempt row)
  // with what has been paid back, or is being paid back, through each.
  const payments = await db.any(sql.type(refundablePaymentRow)`
    SELECT p.gateway, p.gateway_reference, p.amount,
           coalesce((SELECT sum(n.amount) FROM credit_notes n
                     WHERE n.invoice_id = ${invoiceId} AND n.kind = 'refund' AND n.status IN ('pending', 'succeeded')
                       AND n.gateway_reference = p.gateway_reference), 0)::int8 AS refunded
    FROM (SELECT DISTINCT ON (gateway_reference) gateway, gateway_reference, amount, created_at
          FROM payment_attempts
          WHERE invoice_id = ${invoiceId} AND outcome = 'succeeded' AND gateway_reference IS NOT NULL
          ORDER BY gateway_reference, created_at) p
    ORDER BY p.created_at DESC, p.gateway_reference`);
  return { invoice, currency: invoice.currency, sums, payments };
}

/** The domain's view of the invoice from issued notes only (what the ledger already says). */
function issuedBalance(state: InvoiceMoneyState): InvoiceBalance {
  const { invoice, sums } = state;
  return {
    invoiceId: invoice.id,
    currency: state.currency,
    total: invoice.total,
    tax: invoice.tax,
    paid: invoice.amount_paid,
    creditApplied: invoice.amount_credit_applied,
    credited: sums.credited,
    taxCredited: sums.tax_credited,
    refunded: sums.refunded,
    creditGranted: sums.credit_granted,
    writtenOff: 0,
  };
}

/** As issuedBalance, with pending refunds counted as done: what a new note may still take. */
function reservedBalance(state: InvoiceMoneyState): InvoiceBalance {
  const issued = issuedBalance(state);
  return { ...issued, credited: issued.credited + state.sums.pending, refunded: issued.refunded + state.sums.pending };
}

interface Refundable {
  /** What one refund may pay back now: left to credit, left paid, and left on the payment. */
  readonly refundable: number;
  /** The payment a refund of `amount` goes back through, or null when no single one can take it. */
  paymentFor(amount: number): RefundablePayment | null;
}

function refundableOf(state: InvoiceMoneyState): Refundable {
  const balance = reservedBalance(state);
  const creditable = balance.total - balance.credited - balance.writtenOff;
  const paidBack = balance.paid - balance.refunded;
  const left = (p: RefundablePayment) => p.amount - p.refunded;
  // Money goes back the way it came, one payment per refund: the largest figure is what the
  // payment with the most left can take.
  const largest = state.payments.reduce((max, p) => Math.max(max, left(p)), 0);
  return {
    refundable: Math.max(0, Math.min(creditable, paidBack, largest)),
    paymentFor: (amount) => state.payments.find((p) => left(p) >= amount) ?? null,
  };
}

export type RefundStatusOfInvoice = 'not_refunded' | 'partially_refunded' | 'refunded';

export interface InvoiceCreditSummary {
  readonly invoiceId: string;
  readonly number: string;
  readonly status: string;
  readonly currency: string;
  readonly total: number;
  readonly tax: number;
  readonly amountPaid: number;
  readonly amountCredited: number;
  readonly amountRefunded: number;
  /** What the customer still owes. */
  readonly amountDue: number;
  /** What one refund may pay back now (pending refunds already held back). */
  readonly refundable: number;
  readonly refundStatus: RefundStatusOfInvoice;
}

function summaryOf(state: InvoiceMoneyState): InvoiceCreditSummary {
  const { invoice } = state;
  const owed = invoice.status === 'open' ? Math.max(0, amountOwed(issuedBalance(state))) : 0;
  const refundStatus: RefundStatusOfInvoice =
    invoice.amount_refunded === 0 ? 'not_refunded' : invoice.amount_refunded >= invoice.amount_paid ? 'refunded' : 'partially_refunded';
  return {
    invoiceId: invoice.id,
    number: invoice.number,
    status: invoice.status,
    currency: invoice.currency,
    total: invoice.total,
    tax: invoice.tax,
    amountPaid: invoice.amount_paid,
    amountCredited: invoice.amount_credited,
    amountRefunded: invoice.amount_refunded,
    amountDue: owed,
    refundable: invoice.status === 'paid' ? refundableOf(state).refundable : 0,
    refundStatus,
  };
}

export async function invoiceCreditSummary(db: CommonQueryMethods, invoiceId: string): Promise<InvoiceCreditSummary | null> {
  const state = await invoiceMoneyState(db, invoiceId, false);
  return state ? summaryOf(state) : null;
}

/**
 * The next gap-free credit note number of a legal entity ("DB-CN-000001"). Call it in the
 * transaction that issues the note: the counter row's lock serialises numbering and a rollback
 * gives the number back. A legal entity added after the migration gets its series on first use.
 */
async function allocateCreditNoteNumber(tx: CommonQueryMethods, legalEntity: string): Promise<string> {
  await tx.query(sql.unsafe`
    INSERT INTO credit_note_number_counters (legal_entity, prefix)
    SELECT legal_entity, prefix || '-CN' FROM invoice_number_counters WHERE legal_entity = ${legalEntity}
    ON CONFLICT (legal_entity) DO NOTHING`);
  const counter = await tx.one(sql.type(z.object({ prefix: z.string(), number: z.number() }))`
    UPDATE credit_note_number_counters SET next_number = next_number + 1
    WHERE legal_entity = ${legalEntity}
    RETURNING prefix, next_number - 1 AS number`);
  return `${counter.prefix}-${String(counter.number).padStart(6, '0')}`;
}

// ---------------------------------------------------------------------------------------------
// Refunds

export type RefundRefusal =
  | { readonly ok: false; readonly failure: 'invoice_not_found'; readonly message: string }
  | { readonly ok: false; readonly failure: 'invoice_not_paid'; readonly message: string }
  | { readonly ok: false; readonly failure: 'nothing_to_refund'; readonly message: string }
  | { readonly ok: false; readonly failure: 'amount_exceeds_refundable'; readonly refundable: number; readonly message: string };

export interface RefundReservation {
  readonly id: string;
  readonly invoiceId: string;
  /** Omitted: all that one refund may pay back. */
  readonly amount?: number;
  readonly reason: RefundReason;
  readonly memo?: string | null;
  readonly at: string;
}

/**
 * Writes a pending refund note for the invoice, holding its amount, or says why it cannot be.
 * Run it in a transaction: the invoice row stays locked until commit, so concurrent refunds are
 * decided one after the other.
 */
export async function reserveRefund(tx: CommonQueryMethods, request: RefundReservation): Promise<{ readonly ok: true; readonly note: CreditNote } | RefundRefusal> {
  const state = await invoiceMoneyState(tx, request.invoiceId, true);
  if (!state) return { ok: false, failure: 'invoice_not_found', message: `invoice ${request.invoiceId} does not exist` };
  const { invoice } = state;
  if (invoice.status !== 'paid') {
    return { ok: false, failure: 'invoice_not_paid', message: `invoice ${invoice.id} is ${invoice.status}: only a paid invoice can be refunded` };
  }
  if (state.payments.length === 0) {
    return { ok: false, failure: 'nothing_to_refund', message: `invoice ${invoice.id} was not paid through a gateway: there is no payment to refund` };
  }
  const { refundable, paymentFor } = refundableOf(state);
  if (refundable === 0) {
    return { ok: false, failure: 'nothing_to_refund', message: `invoice ${invoice.id} has nothing left to refund` };
  }
  const amount = request.amount ?? refundable;
  if (amount > refundable) {
    return {
      ok: false,
      failure: 'amount_exceeds_refundable',
      refundable,
      message: `amount: ${amount} exceeds the ${refundable} that can still be refunded on invoice ${invoice.id}`,
    };
  }
  const payment = paymentFor(amount);
  if (!payment) throw new Error(`no payment of invoice ${invoice.id} can take a refund of ${amount} although ${refundable} is refundable`);
  // The domain's own checks, with pending refunds counted as done.
  const decision = refundPayment(reservedBalance(state), { id: request.id, amount, reason: request.reason, at: request.at, gateway: payment.gateway });
  if (!decision.ok) return { ok: false, failure: 'amount_exceeds_refundable', refundable, message: `amount: ${decision.reason}` };

  const row = await tx.one(sql.type(creditNoteRow)`
    INSERT INTO credit_notes (id, legal_entity, invoice_id, kind, status, reason, memo, currency, amount, gateway,
                              gateway_reference, idempotency_key, created_at)
    VALUES (${request.id}, ${invoice.legal_entity}, ${invoice.id}, 'refund', 'pending', ${request.reason}, ${request.memo ?? null},
            ${invoice.currency}, ${amount}, ${payment.gateway}, ${payment.gateway_reference}, ${request.id},
            ${request.at}::timestamptz)
    RETURNING ${NOTE_COLUMNS}`);
  return { ok: true, note: toCreditNote(row) };
}

/**
 * Records the gateway's answer to a pending refund, once: on success the note is numbered, its
 * credit note and refund entries are posted, and the invoice's amounts move, all in one
 * transaction. A note that is no longer pending is returned as it is (a repeat changes nothing).
 */
export async function settleRefund(pool: DatabasePool, noteId: string, outcome: RefundOutcome, at: string): Promise<CreditNote> {
  return pool.transaction(async (tx) => {
    const invoiceId = await tx.maybeOneFirst(sql.type(z.object({ invoice_id: z.string() }))`
      SELECT invoice_id FROM credit_notes WHERE id = ${noteId}`);
    if (!invoiceId) throw new Error(`credit note ${noteId} does not exist`);
    // Invoice first, then the note: the order reserveRefund and issueCredit lock in.
    const state = await invoiceMoneyState(tx, invoiceId, true);
    const note = await tx.one(sql.type(creditNoteRow)`SELECT ${NOTE_COLUMNS} FROM credit_notes WHERE id = ${noteId} FOR UPDATE`);
    if (note.status !== 'pending' || !state) return toCreditNote(note);

    if (outcome.outcome === 'pending') {
      const row = await tx.one(sql.type(creditNoteRow)`
        UPDATE credit_notes SET refund_reference = coalesce(${outcome.reference}, refund_reference),
          failure_message = ${outcome.message}, updated_at = now()
        WHERE id = ${noteId} RETURNING ${NOTE_COLUMNS}`);
      return toCreditNote(row);
    }
    if (outcome.outcome === 'failed') {
      const row = await tx.one(sql.type(creditNoteRow)`
        UPDATE credit_notes SET status = 'failed', refund_reference = coalesce(${outcome.reference}, refund_reference),
          failure_code = ${outcome.code}, failure_message = ${outcome.message}, updated_at = now()
        WHERE id = ${noteId} RETURNING ${NOTE_COLUMNS}`);
      return toCreditNote(row);
    }

    // The note's own amount was held while pending; the decision is made against issued notes.
    const decision = refundPayment(issuedBalance(state), {
      id: note.id,
      amount: note.amount,
      reason: note.reason,
      at,
      gateway: note.gateway ?? outcome.gateway,
    });
    if (!decision.ok) {
      // Cannot happen while every note goes through reserveRefund/issueCredit: the gateway has
      // paid back money the books cannot take. Left pending, loudly, for a person to look at.
      throw new Error(`refund ${note.id} succeeded at ${outcome.gateway} (${outcome.reference}) but cannot be booked: ${decision.reason}`);
    }
    for (const entry of decision.entries) await postJournalEntry(tx, entry);
    const { creditNote } = decision;
    const number = await allocateCreditNoteNumber(tx, state.invoice.legal_entity);
    const row = await tx.one(sql.type(creditNoteRow)`
      UPDATE credit_notes SET status = 'succeeded', number = ${number}, tax = ${creditNote.tax},
        reduced_amount_due = ${creditNote.reducedAmountDue}, refunded = ${creditNote.refunded},
        credited_to_balance = ${creditNote.creditedToBalance}, refund_reference = ${outcome.reference},
        failure_code = NULL, failure_message = NULL, issued_at = ${at}::timestamptz, updated_at = now()
      WHERE id = ${noteId} RETURNING ${NOTE_COLUMNS}`);
    await tx.query(sql.unsafe`
      UPDATE invoices SET amount_credited = amount_credited + ${creditNote.amount},
        amount_refunded = amount_refunded + ${creditNote.refunded}
      WHERE id = ${invoiceId}`);
    return toCreditNote(row);
  });
}

// ---------------------------------------------------------------------------------------------
// Credits without money moving

export type CreditRefusal =
  | { readonly ok: false; readonly failure: 'invoice_not_found'; readonly message: string }
  | { readonly ok: false; readonly failure: 'invoice_not_creditable'; readonly message: string }
  | { readonly ok: false; readonly failure: 'amount_exceeds_creditable'; readonly creditable: number; readonly message: string };

export interface CreditIssue {
  readonly id: string;
  readonly invoiceId: string;
  readonly amount: number;
  readonly reason: string;
  readonly memo?: string | null;
  readonly at: string;
}

/**
 * Issues a credit note without money moving, in the caller's transaction: on an open invoice it
 * reduces what is still owed (the invoice is paid once nothing is), and whatever is left over,
 * or all of it on a paid invoice, becomes the customer's credit balance.
 */
export async function issueCredit(tx: CommonQueryMethods, request: CreditIssue): Promise<{ readonly ok: true; readonly note: CreditNote } | CreditRefusal> {
  const state = await invoiceMoneyState(tx, request.invoiceId, true);
  if (!state) return { ok: false, failure: 'invoice_not_found', message: `invoice ${request.invoiceId} does not exist` };
  const { invoice } = state;
  if (invoice.status !== 'open' && invoice.status !== 'paid') {
    return { ok: false, failure: 'invoice_not_creditable', message: `invoice ${invoice.id} is ${invoice.status}: only an open or paid invoice can be credited` };
  }
  // Pending refunds hold their part: a credit may not take what a refund is about to.
  const reserved = reservedBalance(state);
  const creditable = Math.max(0, reserved.total - reserved.credited - reserved.writtenOff);
  if (request.amount > creditable) {
    return {
      ok: false,
      failure: 'amount_exceeds_creditable',
      creditable,
      message: `amount: ${request.amount} exceeds the ${creditable} that can still be credited on invoice ${invoice.id}`,
    };
  }
  const decision = issueCreditNote(issuedBalance(state), { id: request.id, amount: request.amount, reason: request.reason, at: request.at });
  if (!decision.ok) return { ok: false, failure: 'amount_exceeds_creditable', creditable, message: `amount: ${decision.reason}` };

  const { creditNote } = decision;
  for (const entry of decision.entries) await postJournalEntry(tx, entry);
  const number = await allocateCreditNoteNumber(tx, invoice.legal_entity);
  const row = await tx.one(sql.type(creditNoteRow)`
    INSERT INTO credit_notes (id, number, legal_entity, invoice_id, kind, status, reason, memo, currency, amount, tax,
                              reduced_amount_due, refunded, credited_to_balance, idempotency_key, created_at, issued_at)
    VALUES (${request.id}, ${number}, ${invoice.legal_entity}, ${invoice.id}, 'credit', 'succeeded', ${request.reason},
            ${request.memo ?? null}, ${invoice.currency}, ${creditNote.amount}, ${creditNote.tax}, ${creditNote.reducedAmountDue},
            0, ${creditNote.creditedToBalance}, ${request.id}, ${request.at}::timestamptz, ${request.at}::timestamptz)
    RETURNING ${NOTE_COLUMNS}`);
  const settled = invoice.status === 'open' && amountOwed(decision.balance) <= 0;
  await tx.query(sql.unsafe`
    UPDATE invoices SET amount_credited = amount_credited + ${creditNote.amount},
      status = CASE WHEN ${settled} THEN 'paid' ELSE status END,
      paid_at = CASE WHEN ${settled} THEN ${request.at}::timestamptz ELSE paid_at END
    WHERE id = ${invoice.id}`);
  if (settled) {
    // An enterprise invoice credited down to nothing is collected: no more reminders.
    await tx.query(sql.unsafe`
      UPDATE enterprise_invoices SET collection_status = 'paid', updated_at = now()
      WHERE invoice_id = ${invoice.id} AND collection_status NOT IN ('paid', 'void')`);
  }
  return { ok: true, note: toCreditNote(row) };
}
