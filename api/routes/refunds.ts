// Refunds and credit notes on invoices.
//
//   POST /v1/invoices/:id/refunds        pay back (part of) a paid invoice through the gateway that
//                                         took the payment; a credit note settled in cash
//   POST /v1/invoices/:id/credit-notes   credit without money moving: less to pay on an open
//                                         invoice, or credit balance for a paid one
//   GET  /v1/invoices/:id/credit-notes   the invoice's notes and where its money stands
//
// A refund never loses track of money and never pays back twice: the pending note is committed
// (with the Idempotency-Key's claim) before the gateway is asked, with the note id as the
// gateway's idempotency key; the answer is then recorded in one transaction. A retried request
// with the same Idempotency-Key finds the note and resumes it (asking the gateway again with the
// same key, which answers instead of refunding again) rather than starting a second refund.
import { Router, type Response } from 'express';
import type { DatabasePool } from 'slonik';
import { z } from 'zod';
import {
  findCreditNote,
  invoiceCreditSummary,
  issueCredit,
  listCreditNotes,
  listPendingRefunds,
  reserveRefund,
  settleRefund,
  type CreditNote,
  type CreditRefusal,
  type RefundRefusal,
} from '../../db/credit-notes';
import { isCurrency } from '../../domain/money';
import { REFUND_REASONS, type Gateway, type RefundOutcome, type RefundReason } from '../../gateways/gateway';
import { PaymentRoutingError, refundThroughGateway } from '../../gateways/router';
import { requireScope, type Principal } from '../auth';
import { ApiError } from '../errors';
import { newId } from '../ids';
import { claimIdempotencyKey, idempotencyKeyOf } from '../idempotency';
import { parseBody } from '../validation';

const INVOICE_ID = /^in_[A-Za-z0-9_]{1,100}$/;
const MINOR_UNITS = 'must be an integer number of minor units';

export const refundBody = z
  .object({
    /** Omitted: all that can still be refunded. */
    amount: z.number().int(MINOR_UNITS).positive().max(Number.MAX_SAFE_INTEGER).optional(),
    reason: z.enum(REFUND_REASONS),
    memo: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

/** Why an invoice is credited without money moving; the refund reasons and two of its own. */
export const CREDIT_REASONS = [...REFUND_REASONS, 'order_change', 'goodwill'] as const;

export const creditNoteBody = z
  .object({
    amount: z.number().int(MINOR_UNITS).positive().max(Number.MAX_SAFE_INTEGER),
    reason: z.enum(CREDIT_REASONS),
    memo: z.string().trim().min(1).max(500).optional(),
  })
  .strict();

/** "cn_" and 24 random base-36 characters; also the gateway idempotency key of a refund. */
const newCreditNoteId = () => newId('cn', 24);

// ---------------------------------------------------------------------------------------------
// The refund service

export interface RefundInvoiceRequest {
  readonly invoiceId: string;
  readonly amount?: number;
  readonly reason: RefundReason;
  readonly memo?: string;
  /** With an Idempotency-Key: the first request's note is resumed instead of a new refund. */
  readonly idempotency?: { readonly principal: Principal; readonly key: string };
}

export type RefundInvoiceResult = RefundRefusal | { readonly ok: true; readonly note: CreditNote; readonly replay: boolean };

/** Asks the gateway (again, with the same key) about a pending refund and records its answer. */
export async function resumeRefund(pool: DatabasePool, gateways: readonly Gateway[], note: CreditNote): Promise<CreditNote> {
  if (note.status !== 'pending' || !note.refund) return note;
  if (!isCurrency(note.currency)) throw new Error(`credit note ${note.id} is in ${note.currency}, which the domain does not know`);
  let outcome: RefundOutcome;
  try {
    outcome = await refundThroughGateway(gateways, note.refund.gateway, {
      gatewayReference: note.refund.paymentReference,
      amount: note.amount,
      currency: note.currency,
      idempotencyKey: note.id,
      reason: note.reason as RefundReason,
      metadata: { invoice_id: note.invoiceId, credit_note_id: note.id },
    });
  } catch (error) {
    if (!(error instanceof PaymentRoutingError)) throw error;
    // Nothing was sent: the gateway that took the payment is not configured here.
    outcome = { outcome: 'failed', gateway: note.refund.gateway, reference: null, code: 'gateway_not_configured', message: error.message };
  }
  return settleRefund(pool, note.id, outcome, new Date().toISOString());
}

/**
 * Asks again about refunds left pending (a request that was not retried, a gateway that settles
 * later), each with its own key, so none is forgotten. For a timer in the API process, like the
 * webhook relay; `olderThanSeconds` leaves requests in flight alone.
 */
export async function resumePendingRefunds(
  pool: DatabasePool,
  gateways: readonly Gateway[],
  options: { olderThanSeconds?: number; limit?: number } = {},
): Promise<readonly CreditNote[]> {
  const pending = await listPendingRefunds(pool, options.olderThanSeconds ?? 60, options.limit ?? 100);
  const resumed: CreditNote[] = [];
  for (const note of pending) resumed.push(await resumeRefund(pool, gateways, note));
  return resumed;
}

/**
 * Refunds (part of) a paid invoice: pending note (and the Idempotency-Key's claim) committed
 * first, then the gateway, then its answer recorded. A refused request writes nothing.
 */
export async function refundInvoice(pool: DatabasePool, gateways: readonly Gateway[], request: RefundInvoiceRequest): Promise<RefundInvoiceResult> {
  const noteId = newCreditNoteId();
  const { idempotency } = request;
  const started = await pool.transaction(async (tx) => {
    if (idempotency) {
      const claim = await claimIdempotencyKey(tx, {
        principal: idempotency.principal,
        key: idempotency.key,
        // The invoice is part of the request: the same key on another invoice is another request.
        body: { invoiceId: request.invoiceId, amount: request.amount ?? null, reason: request.reason, memo: request.memo ?? null },
        resourceType: 'refund',
        newResourceId: noteId,
      });
      if (claim.replay) return { replay: true as const, noteId: claim.resourceId };
    }
    const reservation = await reserveRefund(tx, {
      id: noteId,
      invoiceId: request.invoiceId,
      reason: request.reason,
      at: new Date().toISOString(),
      ...(request.amount !== undefined ? { amount: request.amount } : {}),
      ...(request.memo !== undefined ? { memo: request.memo } : {}),
    });
    // Thrown so that the claim is rolled back with everything else: a refusal writes nothing.
    if (!reservation.ok) throw new RefusedRefund(reservation);
    return { replay: false as const, note: reservation.note };
  }).catch((error: unknown) => {
    if (error instanceof RefusedRefund) return { refused: error.refusal };
    throw error;
  });
  if ('refused' in started) return started.refused;
  const note = started.replay ? await findCreditNote(pool, started.noteId) : started.note;
  if (!note) throw new Error(`Idempotency-Key names credit note ${started.replay ? started.noteId : noteId}, which does not exist`);
  return { ok: true, note: await resumeRefund(pool, gateways, note), replay: started.replay };
}

class RefusedRefund extends Error {
  constructor(readonly refusal: RefundRefusal) {
    super(refusal.message);
  }
}

class RefusedCredit extends Error {
  constructor(readonly refusal: CreditRefusal) {
    super(refusal.message);
  }
}

function refusalError(refusal: RefundRefusal | CreditRefusal): ApiError {
  switch (refusal.failure) {
    case 'invoice_not_found':
      return new ApiError(404, 'not_found', refusal.message);
    case 'invoice_not_paid':
    case 'invoice_not_creditable':
      return new ApiError(409, 'invalid_state', refusal.message);
    case 'nothing_to_refund':
      return new ApiError(409, 'nothing_to_refund', refusal.message);
    case 'amount_exceeds_refundable':
    case 'amount_exceeds_creditable':
      return new ApiError(422, refusal.failure, refusal.message, 'amount');
  }
}

// ---------------------------------------------------------------------------------------------
// Routes

/**
 * The refund and credit note routes. `gateways` are the adapters refunds go back through (each
 * refund through the one that took its payment); mount after authenticated() and express.json().
 */
export function refundRoutes(pool: DatabasePool, gateways: readonly Gateway[]): Router {
  const router = Router();

  const invoiceIdOf = (id: string): string => {
    if (!INVOICE_ID.test(id)) throw new ApiError(404, 'not_found', `invoice ${id} does not exist`);
    return id;
  };

  const answer = async (res: Response, status: number, note: CreditNote): Promise<void> => {
    res.status(status).json({ ...note, invoice: await invoiceCreditSummary(pool, note.invoiceId) });
  };

  router.post('/v1/invoices/:id/refunds', requireScope('invoices:write'), async (req, res) => {
    const body = parseBody(refundBody, req.body ?? {});
    const key = idempotencyKeyOf(req);
    const invoiceId = invoiceIdOf(String(req.params.id));
    const result = await refundInvoice(pool, gateways, {
      invoiceId,
      reason: body.reason,
      ...(body.amount !== undefined ? { amount: body.amount } : {}),
      ...(body.memo !== undefined ? { memo: body.memo } : {}),
      ...(key ? { idempotency: { principal: res.locals.principal as Principal, key } } : {}),
    });
    if (!result.ok) throw refusalError(result);
    const { note, replay } = result;
    switch (note.status) {
      case 'succeeded':
        return answer(res, replay ? 200 : 201, note);
      case 'pending':
        // Accepted, not settled: the gateway is settling it or did not answer. The same
        // Idempotency-Key resumes it.
        return answer(res, 202, note);
      case 'failed':
        throw new ApiError(
          402,
          'refund_failed',
          `the gateway refused refund ${note.id}: ${note.failure?.code ?? 'failed'}: ${note.failure?.message ?? ''}`.trim(),
        );
    }
  });

  router.post('/v1/invoices/:id/credit-notes', requireScope('invoices:write'), async (req, res) => {
    const body = parseBody(creditNoteBody, req.body ?? {});
    const key = idempotencyKeyOf(req);
    const invoiceId = invoiceIdOf(String(req.params.id));
    const principal = res.locals.principal as Principal;
    const noteId = newCreditNoteId();
    const issued = await pool
      .transaction(async (tx) => {
        if (key) {
          const claim = await claimIdempotencyKey(tx, {
            principal,
            key,
            body: { invoiceId, amount: body.amount, reason: body.reason, memo: body.memo ?? null },
            resourceType: 'credit_note',
            newResourceId: noteId,
          });
          if (claim.replay) return { replay: true, noteId: claim.resourceId };
        }
        const credit = await issueCredit(tx, { id: noteId, invoiceId, amount: body.amount, reason: body.reason, memo: body.memo ?? null, at: new Date().toISOString() });
        if (!credit.ok) throw new RefusedCredit(credit);
        return { replay: false, noteId: credit.note.id };
      })
      .catch((error: unknown) => {
        if (error instanceof RefusedCredit) throw refusalError(error.refusal);
        throw error;
      });
    const note = await findCreditNote(pool, issued.noteId);
    if (!note) throw new Error(`credit note ${issued.noteId} does not exist`);
    await answer(res, issued.replay ? 200 : 201, note);
  });

  router.get('/v1/invoices/:id/credit-notes', requireScope('invoices:read'), async (req, res) => {
    const invoiceId = invoiceIdOf(String(req.params.id));
    const invoice = await invoiceCreditSummary(pool, invoiceId);
    if (!invoice) throw new ApiError(404, 'not_found', `invoice ${invoiceId} does not exist`);
    res.json({ invoice, data: await listCreditNotes(pool, invoiceId) });
  });

  return router;
}
