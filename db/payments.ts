import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { ChargeOutcome } from '../gateways/gateway';

export async function recordAttemptStarted(
  db: CommonQueryMethods,
  a: {
    idempotencyKey: string;
    invoiceId: string;
    attempt: number;
    gateway: string;
    amount: number;
    currency: string;
    paymentMethodToken: string | null;
    /** Why the charge was made: what the retry model learns from (domain/retry-model). */
    trigger?: 'initial' | 'automatic' | 'new_payment_method' | null;
    /** Automatic retries of the invoice so far, this one included (0 for the first charge). */
    retryNumber?: number | null;
    /** Why the retry is at this time (the stored retry decision's reason). */
    retryReason?: string | null;
    /** Workflow time of the attempt (created_at is the wall clock). */
    attemptedAt?: string | null;
    cardType?: 'credit' | 'debit' | 'prepaid' | 'unknown' | null;
  },
): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO payment_attempts (idempotency_key, invoice_id, attempt, gateway, amount, currency, outcome, payment_method_token,
                                  trigger, retry_number, retry_reason, attempted_at, card_type)
    VALUES (${a.idempotencyKey}, ${a.invoiceId}, ${a.attempt}, ${a.gateway}, ${a.amount}, ${a.currency}, 'pending',
            ${a.paymentMethodToken}, ${a.trigger ?? null}, ${a.retryNumber ?? null}, ${a.retryReason ?? null},
            ${a.attemptedAt ?? null}::timestamptz, ${a.cardType ?? null})
    ON CONFLICT (idempotency_key) DO NOTHING`);
}

/** The amount an attempt was started with (its key is bound to it at the gateway), or null if none was. */
export async function findAttemptAmount(db: CommonQueryMethods, idempotencyKey: string): Promise<number | null> {
  return db.maybeOneFirst(sql.type(z.object({ amount: z.number() }))`
    SELECT amount FROM payment_attempts WHERE idempotency_key = ${idempotencyKey}`);
}

export async function recordAttemptOutcome(
  db: CommonQueryMethods,
  idempotencyKey: string,
  outcome: ChargeOutcome,
  latencyMs: number,
): Promise<void> {
  const reference = 'reference' in outcome ? (outcome.reference ?? null) : null;
  const declineCode = outcome.status === 'declined' ? outcome.declineCode : null;
  const message = outcome.status === 'declined' || outcome.status === 'gateway_error' ? outcome.message : null;
  await db.query(sql.unsafe`
    UPDATE payment_attempts SET outcome = ${outcome.status}, gateway = ${outcome.gateway},
      gateway_reference = ${reference}, decline_code = ${declineCode}, error_message = ${message},
      latency_ms = ${latencyMs}, updated_at = now()
    WHERE idempotency_key = ${idempotencyKey}`);
}

export const attemptRow = z.object({
  idempotency_key: z.string(),
  invoice_id: z.string(),
  attempt: z.number(),
  gateway: z.string(),
  amount: z.number(),
  currency: z.string(),
  outcome: z.string(),
  decline_code: z.string().nullable(),
  gateway_reference: z.string().nullable(),
});

export async function listAttemptsForInvoices(db: CommonQueryMethods, invoiceIds: readonly string[]) {
  return db.any(sql.type(attemptRow)`
    SELECT idempotency_key, invoice_id, attempt, gateway, amount, currency, outcome, decline_code, gateway_reference
    FROM payment_attempts WHERE invoice_id = ANY(${sql.array(invoiceIds, 'text')})
    ORDER BY invoice_id, attempt, created_at, idempotency_key`);
}
