// What the retry model learns from (our own payment attempts) and where its decisions are kept.
//
// One charge attempt may write several rows: the router's failover charges a backup method under
// a derived key (`<key>:paypal`) for the same invoice and attempt number. The model needs one
// record per attempt, the attempt's outcome as a whole: it succeeded if any row did, needed the
// customer if a row said so, and otherwise was declined (the first method's decline: that is the
// card the next retry charges first). Rows still pending, and gateway errors (the activity retries
// those under the same key), are not outcomes yet.
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { declineCodeOfOutcome } from '../domain/declines';
import type { CardType, CustomerPayment, PaymentAttemptRecord, RetryDecision } from '../domain/retry-model';

const TRIGGERS = ['initial', 'automatic', 'new_payment_method'] as const;
const CARD_TYPES = ['credit', 'debit', 'prepaid', 'unknown'] as const;

/** A settled charge attempt and the key that names it across loads. */
export interface SettledAttempt {
  /** `<invoice id>#<attempt>`: every row of one attempt, failover rows included. */
  readonly key: string;
  readonly record: PaymentAttemptRecord;
}

export interface SettledAttemptsPage {
  readonly attempts: readonly SettledAttempt[];
  /** The database's latest change among what was read (pass it back to read what came after); null when nothing was. */
  readonly cursor: string | null;
}

/**
 * Outcomes are written at commit, and transactions commit out of order: a row stamped a moment
 * before the cursor may become visible after it was taken. Each incremental read looks back this
 * far, and the caller drops what it already has.
 */
export const CURSOR_LOOK_BACK = '5 minutes';

const settledRow = z.object({
  invoice_id: z.string(),
  attempt: z.number(),
  customer_id: z.string(),
  at: z.string(),
  outcome: z.enum(['succeeded', 'declined', 'requires_action']),
  decline_code: z.string().nullable(),
  trigger: z.enum(TRIGGERS).nullable(),
  retry_number: z.number().nullable(),
  amount: z.number(),
  gateway: z.string(),
  card_type: z.enum(CARD_TYPES).nullable(),
  utc_offset_minutes: z.number(),
  updated_at: z.string(),
});
type SettledRow = z.infer<typeof settledRow>;

/** One row per settled attempt (see the top of this file), restricted by `filter`. */
function settledAttempts(filter: ReturnType<typeof sql.fragment>) {
  return sql.fragment`
    SELECT DISTINCT ON (a.invoice_id, a.attempt)
           a.invoice_id, a.attempt, i.customer_id, coalesce(a.attempted_at, a.created_at) AS at, a.outcome, a.decline_code,
           a.trigger, a.retry_number, a.amount, a.gateway, a.card_type, c.utc_offset_minutes,
           max(a.updated_at) OVER (PARTITION BY a.invoice_id, a.attempt) AS updated_at
    FROM payment_attempts a
    JOIN invoices i ON i.id = a.invoice_id
    JOIN customers c ON c.id = i.customer_id
    WHERE a.outcome IN ('succeeded', 'declined', 'requires_action') AND ${filter}
    ORDER BY a.invoice_id, a.attempt, a.outcome = 'succeeded' DESC, a.outcome = 'requires_action' DESC, a.created_at, a.idempotency_key`;
}

function toRecord(row: SettledRow): PaymentAttemptRecord {
  const succeeded = row.outcome === 'succeeded';
  return {
    customerId: row.customer_id,
    invoiceId: row.invoice_id,
    at: row.at,
    succeeded,
    declineCode: succeeded
      ? null
      : declineCodeOfOutcome(row.outcome === 'declined' ? { status: 'declined', declineCode: row.decline_code ?? 'generic_decline' } : { status: 'requires_action' }),
    // Rows that do not say why they were made (written before the column existed, or charges
    // outside dunning such as enterprise card payments) are context only: as 'initial' they are
    // never counted as retries, nor as recoveries of the customer.
    trigger: row.trigger ?? 'initial',
    retryNumber: row.retry_number ?? 0,
    amount: row.amount,
    gateway: row.gateway,
    cardType: row.card_type ?? 'unknown',
    utcOffsetMinutes: row.utc_offset_minutes,
  };
}

/**
 * Settled attempts, oldest first: all of them without a cursor, otherwise those whose rows changed
 * after it (looking back CURSOR_LOOK_BACK, so some may be known already).
 */
export async function loadSettledAttempts(db: CommonQueryMethods, cursor: string | null = null): Promise<SettledAttemptsPage> {
  const filter =
    cursor === null
      ? sql.fragment`true`
      : sql.fragment`(a.invoice_id, a.attempt) IN (
          SELECT invoice_id, attempt FROM payment_attempts
          WHERE updated_at > ${cursor}::timestamptz - ${CURSOR_LOOK_BACK}::interval
            AND outcome IN ('succeeded', 'declined', 'requires_action'))`;
  const rows = await db.any(sql.type(settledRow)`
    SELECT * FROM (${settledAttempts(filter)}) s ORDER BY at, invoice_id, attempt`);
  let latest: string | null = cursor;
  for (const row of rows) if (latest === null || Date.parse(row.updated_at) > Date.parse(latest)) latest = row.updated_at;
  return { attempts: rows.map((row) => ({ key: `${row.invoice_id}#${row.attempt}`, record: toRecord(row) })), cursor: latest };
}

/** How many settled attempts there are: a learner holding a different number missed or kept something. */
export async function countSettledAttempts(db: CommonQueryMethods): Promise<number> {
  return db.oneFirst(sql.type(z.object({ count: z.number() }))`
    SELECT count(*) AS count FROM (
      SELECT DISTINCT invoice_id, attempt FROM payment_attempts WHERE outcome IN ('succeeded', 'declined', 'requires_action')
    ) s`);
}

/** What the retry model needs to know about the customer whose payment failed. */
export interface RetryCustomerContext {
  readonly utcOffsetMinutes: number;
  /** The payment method's card type as a gateway last reported it, 'unknown' when none did. */
  readonly cardType: CardType;
  /** The customer's own settled attempts (any invoice) strictly before `before`, oldest first. */
  readonly history: readonly CustomerPayment[];
}

/** Null when the customer does not exist. Only what happened before `before` counts, so the answer depends on the workflow's time, not on when it is asked. */
export async function loadRetryCustomerContext(
  db: CommonQueryMethods,
  customerId: string,
  paymentMethodToken: string,
  before: string,
): Promise<RetryCustomerContext | null> {
  const offset = await db.maybeOneFirst(sql.type(z.object({ utc_offset_minutes: z.number() }))`
    SELECT utc_offset_minutes FROM customers WHERE id = ${customerId}`);
  if (offset === null) return null;
  const cardType = await db.maybeOneFirst(sql.type(z.object({ card_type: z.enum(CARD_TYPES) }))`
    SELECT a.card_type FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id
    WHERE i.customer_id = ${customerId} AND a.payment_method_token = ${paymentMethodToken} AND a.card_type IS NOT NULL
      AND coalesce(a.attempted_at, a.created_at) < ${before}::timestamptz
    ORDER BY coalesce(a.attempted_at, a.created_at) DESC, a.idempotency_key DESC
    LIMIT 1`);
  const rows = await db.any(sql.type(settledRow)`
    SELECT * FROM (${settledAttempts(sql.fragment`i.customer_id = ${customerId} AND coalesce(a.attempted_at, a.created_at) < ${before}::timestamptz`)}) s
    ORDER BY at, invoice_id, attempt`);
  return {
    utcOffsetMinutes: offset,
    cardType: cardType ?? 'unknown',
    history: rows.map(toRecord).map((r) => ({ at: r.at, succeeded: r.succeeded, trigger: r.trigger })),
  };
}

// ---------------------------------------------------------------------------------------------
// Decisions

export interface RetryDecisionRecord {
  /** See retryDecisionId (activities/retry-decisions.ts). */
  readonly id: string;
  readonly invoiceId: string;
  readonly customerId: string;
  readonly retryNumber: number;
  readonly decidedAt: string;
  readonly decision: RetryDecision;
  /** Automatic retries the model had learned from when it decided. */
  readonly modelRetriesCounted: number;
  /** Exactly what the model was given (RetryFeatures). */
  readonly features: unknown;
}

const decisionRow = z.object({
  id: z.string(),
  invoice_id: z.string(),
  customer_id: z.string(),
  retry_number: z.number(),
  decided_at: z.string(),
  chosen_at: z.string(),
  score: z.string(),
  reason: z.string(),
  plan: z.array(z.string()),
  model_retries_counted: z.number(),
  features: z.unknown(),
});

function toDecisionRecord(row: z.infer<typeof decisionRow>): RetryDecisionRecord {
  return {
    id: row.id,
    invoiceId: row.invoice_id,
    customerId: row.customer_id,
    retryNumber: row.retry_number,
    decidedAt: row.decided_at,
    decision: { at: row.chosen_at, reason: row.reason, score: Number(row.score), plan: row.plan },
    modelRetriesCounted: row.model_retries_counted,
    features: row.features,
  };
}

export async function findRetryDecision(db: CommonQueryMethods, id: string): Promise<RetryDecisionRecord | null> {
  const row = await db.maybeOne(sql.type(decisionRow)`
    SELECT id, invoice_id, customer_id, retry_number, decided_at, chosen_at, score::text AS score, reason, plan,
           model_retries_counted, features
    FROM retry_decisions WHERE id = ${id}`);
  return row ? toDecisionRecord(row) : null;
}

/**
 * Stores a decision once: if one is stored under the id already (a retried activity, a second
 * worker), that one stays and is returned, so every caller gets the same answer.
 */
export async function recordRetryDecision(pool: DatabasePool, d: RetryDecisionRecord): Promise<RetryDecisionRecord> {
  return pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`
      INSERT INTO retry_decisions (id, invoice_id, customer_id, retry_number, decided_at, chosen_at, score, reason, plan,
                                   model_retries_counted, features)
      VALUES (${d.id}, ${d.invoiceId}, ${d.customerId}, ${d.retryNumber}, ${d.decidedAt}::timestamptz,
              ${d.decision.at}::timestamptz, ${d.decision.score}, ${d.decision.reason}, ${sql.jsonb([...d.decision.plan])},
              ${d.modelRetriesCounted}, ${sql.jsonb(d.features as Parameters<typeof sql.jsonb>[0])})
      ON CONFLICT (id) DO NOTHING`);
    const stored = await findRetryDecision(tx, d.id);
    if (!stored) throw new Error(`retry decision ${d.id} was neither stored nor found`);
    return stored;
  });
}
