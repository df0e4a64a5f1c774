// The notification outbox: activities enqueue a notice once (keyed by its idempotency key), a
// sender claims due notices, delivers them and records the outcome. Claims are leases rather than
// locks held across the SMTP conversation, so no transaction stays open while a mail server
// thinks, and a sender that dies mid-send releases its notices when the lease runs out.
import { randomUUID } from 'node:crypto';
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';

/** A notice has this many delivery attempts before it is given up (kept, with its last error). */
export const DEFAULT_MAX_DELIVERY_ATTEMPTS = 10;
/** How long a claim keeps other senders off a notice; well above the SMTP timeouts of a send. */
export const DEFAULT_CLAIM_LEASE_MS = 5 * 60_000;
const FIRST_RETRY_DELAY_MS = 60_000;
const MAX_RETRY_DELAY_MS = 60 * 60_000;

/** Wait before the next attempt after `failedAttempts` failures: 1, 2, 4, ... minutes, at most 1 hour. */
export function noticeRetryDelayMs(failedAttempts: number): number {
  if (!Number.isInteger(failedAttempts) || failedAttempts < 1) throw new RangeError(`invalid failed attempt count ${failedAttempts}`);
  // Past 2^6 minutes the cap applies anyway; stopping the exponent there keeps the number small.
  return Math.min(MAX_RETRY_DELAY_MS, FIRST_RETRY_DELAY_MS * 2 ** Math.min(failedAttempts - 1, 6));
}

export interface NewNotice {
  readonly idempotencyKey: string;
  readonly kind: string;
  readonly recipient: string;
  readonly subject: string;
  readonly body: string;
  readonly customerId: string | null;
  readonly invoiceId: string | null;
  /** Not delivered before this instant (ISO 8601). */
  readonly sendAfter: string;
}

/** Enqueues a notice once; false when its key was already there (a retry or replay). */
export async function enqueueNotice(db: CommonQueryMethods, notice: NewNotice): Promise<boolean> {
  const inserted = await db.maybeOne(sql.unsafe`
    INSERT INTO notification_outbox (idempotency_key, kind, recipient, subject, body, customer_id, invoice_id, send_after)
    VALUES (${notice.idempotencyKey}, ${notice.kind}, ${notice.recipient}, ${notice.subject}, ${notice.body},
            ${notice.customerId}, ${notice.invoiceId}, ${notice.sendAfter}::timestamptz)
    ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key`);
  return inserted !== null;
}

/**
 * Cancels the invoice's notices that have not gone out (all of them, or only these kinds), e.g.
 * the final notice scheduled for later when the dunning recovers. Without `kinds` it cancels
 * every unsent notice of the invoice, so a caller that also announces the recovery cancels first
 * and enqueues the `recovered` notice after. A notice a sender is delivering at this moment still
 * goes out and is recorded as sent (with canceled_at set too: canceled too late). Returns how many
 * were canceled.
 */
export async function cancelPendingNotices(
  db: CommonQueryMethods,
  invoiceId: string,
  kinds?: readonly string[],
  at?: string,
): Promise<number> {
  const kindFilter = kinds ? sql.fragment`AND kind = ANY(${sql.array([...kinds], 'text')})` : sql.fragment``;
  const canceled = await db.anyFirst(sql.type(z.object({ idempotency_key: z.string() }))`
    UPDATE notification_outbox SET canceled_at = coalesce(${at ?? null}::timestamptz, now())
    WHERE invoice_id = ${invoiceId} AND sent_at IS NULL AND canceled_at IS NULL AND failed_at IS NULL ${kindFilter}
    RETURNING idempotency_key`);
  return canceled.length;
}

export const claimedNoticeRow = z.object({
  idempotency_key: z.string(),
  kind: z.string(),
  recipient: z.string(),
  subject: z.string(),
  body: z.string(),
  send_after: z.string(),
  attempts: z.number(),
  claim_token: z.string(),
});
export type ClaimedNotice = z.infer<typeof claimedNoticeRow>;

/**
 * Claims up to `limit` notices due at `now` for one sender. SKIP LOCKED lets concurrent senders
 * each take different rows instead of queueing behind one another, and the lease they write
 * keeps those rows theirs after this statement commits. Oldest due first.
 */
export async function claimDueNotices(
  db: CommonQueryMethods,
  limit: number,
  now: string,
  leaseMs: number = DEFAULT_CLAIM_LEASE_MS,
): Promise<readonly ClaimedNotice[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`invalid claim limit ${limit}`);
  const claimToken = randomUUID();
  const claimed = await db.any(sql.type(claimedNoticeRow)`
    UPDATE notification_outbox
    SET claimed_until = ${now}::timestamptz + ${leaseMs}::integer * interval '1 millisecond', claim_token = ${claimToken}
    WHERE idempotency_key IN (
      SELECT idempotency_key FROM notification_outbox
      WHERE sent_at IS NULL AND canceled_at IS NULL AND failed_at IS NULL
        AND send_after <= ${now}::timestamptz
        AND (claimed_until IS NULL OR claimed_until <= ${now}::timestamptz)
      ORDER BY send_after, idempotency_key
      LIMIT ${limit}
      FOR UPDATE SKIP LOCKED)
    RETURNING idempotency_key, kind, recipient, subject, body, send_after, attempts, claim_token`);
  return [...claimed].sort((a, b) => a.send_after.localeCompare(b.send_after) || a.idempotency_key.localeCompare(b.idempotency_key));
}

/** Records the delivery. False when the claim was lost (the lease ran out and another sender took it). */
export async function markSent(db: CommonQueryMethods, notice: ClaimedNotice, delivery: { messageId: string; at: string }): Promise<boolean> {
  const row = await db.maybeOne(sql.unsafe`
    UPDATE notification_outbox
    SET sent_at = ${delivery.at}::timestamptz, message_id = ${delivery.messageId}, attempts = attempts + 1,
        last_error = NULL, claimed_until = NULL, claim_token = NULL
    WHERE idempotency_key = ${notice.idempotency_key} AND claim_token = ${notice.claim_token} AND sent_at IS NULL
    RETURNING idempotency_key`);
  return row !== null;
}

export interface FailedDelivery {
  readonly attempts: number;
  /** When the next attempt is due; null when the notice was given up. */
  readonly retryAt: string | null;
}

/**
 * Records a failed attempt: the notice waits noticeRetryDelayMs before the next one, or is given
 * up after `maxAttempts` and kept with its last error. Null when the claim was lost.
 */
export async function markFailed(
  db: CommonQueryMethods,
  notice: ClaimedNotice,
  failure: { error: string; at: string; maxAttempts?: number },
): Promise<FailedDelivery | null> {
  const attempts = notice.attempts + 1;
  const gaveUp = attempts >= (failure.maxAttempts ?? DEFAULT_MAX_DELIVERY_ATTEMPTS);
  const retryAt = gaveUp ? null : new Date(Date.parse(failure.at) + noticeRetryDelayMs(attempts)).toISOString();
  const row = await db.maybeOne(sql.unsafe`
    UPDATE notification_outbox
    SET attempts = ${attempts}, last_error = ${failure.error.slice(0, 2000)},
        send_after = coalesce(${retryAt}::timestamptz, send_after),
        failed_at = CASE WHEN ${gaveUp} THEN ${failure.at}::timestamptz END,
        claimed_until = NULL, claim_token = NULL
    WHERE idempotency_key = ${notice.idempotency_key} AND claim_token = ${notice.claim_token} AND sent_at IS NULL
    RETURNING idempotency_key`);
  return row === null ? null : { attempts, retryAt };
}

export const outboxNoticeRow = z.object({
  idempotency_key: z.string(),
  kind: z.string(),
  recipient: z.string(),
  subject: z.string(),
  body: z.string(),
  customer_id: z.string().nullable(),
  invoice_id: z.string().nullable(),
  send_after: z.string(),
  created_at: z.string(),
  sent_at: z.string().nullable(),
  message_id: z.string().nullable(),
  attempts: z.number(),
  last_error: z.string().nullable(),
  canceled_at: z.string().nullable(),
  failed_at: z.string().nullable(),
});
export type OutboxNoticeRow = z.infer<typeof outboxNoticeRow>;

/** A customer's or an invoice's notices (both: those of the invoice for that customer), in sending order. */
export async function listNotices(
  db: CommonQueryMethods,
  filter: { customerId?: string; invoiceId?: string },
): Promise<readonly OutboxNoticeRow[]> {
  const conditions = [
    ...(filter.customerId !== undefined ? [sql.fragment`customer_id = ${filter.customerId}`] : []),
    ...(filter.invoiceId !== undefined ? [sql.fragment`invoice_id = ${filter.invoiceId}`] : []),
  ];
  if (conditions.length === 0) throw new RangeError('listNotices needs a customerId or an invoiceId');
  return db.any(sql.type(outboxNoticeRow)`
    SELECT idempotency_key, kind, recipient, subject, body, customer_id, invoice_id, send_after, created_at, sent_at,
           message_id, attempts, last_error, canceled_at, failed_at
    FROM notification_outbox WHERE ${sql.join(conditions, sql.fragment` AND `)}
    ORDER BY send_after, idempotency_key`);
}
