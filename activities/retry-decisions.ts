// The smart-retry decision: when to retry a soft-declined payment, chosen by the retry model
// (domain/retry-model) learned from our own payment attempts.
//
// It runs in an activity because it reads the database; Temporal records its answer in the
// workflow's history, so a replay never decides again. Each decision is also stored, with its
// reason and what the model saw, under an id fixed by the failure it answers: a retried activity
// (or a second worker) gets the stored decision back instead of deciding anew with more history.
//
// Each worker keeps one model in memory, learned from every settled attempt on top of the prior
// (a cold start is the prior alone). Before deciding it reads the attempts settled since its
// cursor and adds them, so it learns as outcomes arrive. Adding is exact only while the newcomers
// do not change what earlier attempts looked like (a customer's recoveries, an invoice's previous
// attempt); when they would, or when its attempts no longer match the database's, it learns again
// from scratch. Either way the model equals one trained on the same history at once, so two
// workers with the same history choose the same time.
import { ApplicationFailure } from '@temporalio/activity';
import { sql, type DatabasePool } from 'slonik';
import {
  countSettledAttempts,
  findRetryDecision,
  loadRetryCustomerContext,
  loadSettledAttempts,
  recordRetryDecision,
  type SettledAttempt,
} from '../db/retry-history';
import type { RetryRequest } from '../domain/dunning';
import {
  chooseRetryTime,
  DEFAULT_RETRY_MODEL_PARAMS,
  emptyRetryModel,
  trainRetryModel,
  updateRetryModel,
  type PaymentAttemptRecord,
  type RetryDecision,
  type RetryFeatures,
  type RetryModel,
  type RetryModelParams,
} from '../domain/retry-model';

export interface RetryDecisionDependencies {
  readonly pool: DatabasePool;
  readonly params?: RetryModelParams;
  /** How long a worker decides with its model before looking for new outcomes; 0 (the default): before every decision. */
  readonly refreshEveryMs?: number;
  /** The wall clock, for pacing refreshes only (decisions use the workflow's `now`). */
  readonly clock?: () => number;
}

export interface DecideRetryTimeInput {
  /** From domain/dunning retryRequest for the failed charge. */
  readonly request: RetryRequest;
  readonly invoiceId: string;
  readonly customerId: string;
  readonly amount: number; // minor units
  readonly gateway: string;
  /** The method the retry will charge: its card type, when a gateway reported one. */
  readonly paymentMethodToken: string;
  /** Workflow time: only the customer's history before it counts. */
  readonly now: string;
}

/**
 * The stored decision's id: one per failure answered. The retry number alone is not enough: a
 * failed charge of a new payment method asks again with the same retry number (it does not use the
 * budget), after a later attempt.
 */
export function retryDecisionId(invoiceId: string, request: Pick<RetryRequest, 'retryNumber' | 'lastAttemptAt'>): string {
  return `${invoiceId}:retry-${request.retryNumber}:after-${request.lastAttemptAt}`;
}

// ---------------------------------------------------------------------------------------------
// Learning as outcomes arrive (pure)

export interface LearnedHistory {
  readonly model: RetryModel;
  /** Every attempt the model was trained on, by SettledAttempt key. */
  readonly attempts: ReadonlyMap<string, PaymentAttemptRecord>;
}

export function emptyLearnedHistory(params: RetryModelParams = DEFAULT_RETRY_MODEL_PARAMS): LearnedHistory {
  return { model: emptyRetryModel(params), attempts: new Map() };
}

function sameRecord(a: PaymentAttemptRecord, b: PaymentAttemptRecord): boolean {
  return (Object.keys(a) as (keyof PaymentAttemptRecord)[]).every((k) => a[k] === b[k]);
}

/**
 * Adds settled attempts to what the model learned. Already known ones are skipped. Counting only
 * the newcomers (updateRetryModel) gives the model training on everything would give, unless a
 * newcomer is not later than every known attempt of its customer (it would have been context for
 * those: a recovery, an invoice's previous attempt) or a known attempt's outcome changed; then the
 * model is trained again from scratch. `retrained` says which happened.
 */
export function learnFromAttempts(history: LearnedHistory, arrived: readonly SettledAttempt[]): { history: LearnedHistory; retrained: boolean } {
  const attempts = new Map(history.attempts);
  const fresh: PaymentAttemptRecord[] = [];
  let changed = false;
  for (const { key, record } of arrived) {
    const known = attempts.get(key);
    if (known && sameRecord(known, record)) continue;
    if (known) changed = true;
    else fresh.push(record);
    attempts.set(key, record);
  }
  if (!changed && fresh.length === 0) return { history, retrained: false };
  if (changed || !arriveInOrder(history.attempts, fresh)) {
    return { history: { model: trainRetryModel([...attempts.values()], history.model.params), attempts }, retrained: true };
  }
  return { history: { model: updateRetryModel(history.model, fresh, [...history.attempts.values()]), attempts }, retrained: false };
}

/** True when each newcomer is later than every known attempt of its customer. */
function arriveInOrder(known: ReadonlyMap<string, PaymentAttemptRecord>, fresh: readonly PaymentAttemptRecord[]): boolean {
  const customers = new Set(fresh.map((r) => r.customerId));
  const latestOfCustomer = new Map<string, number>();
  for (const r of known.values()) {
    if (!customers.has(r.customerId)) continue;
    latestOfCustomer.set(r.customerId, Math.max(latestOfCustomer.get(r.customerId) ?? -Infinity, Date.parse(r.at)));
  }
  return fresh.every((r) => Date.parse(r.at) > (latestOfCustomer.get(r.customerId) ?? -Infinity));
}

// ---------------------------------------------------------------------------------------------
// The worker's model

export interface LearnedRetryModel {
  /** The model with every attempt settled so far (subject to refreshEveryMs). */
  current(): Promise<RetryModel>;
}

export function createLearnedRetryModel({ pool, params = DEFAULT_RETRY_MODEL_PARAMS, refreshEveryMs = 0, clock = Date.now }: RetryDecisionDependencies): LearnedRetryModel {
  let learned: { history: LearnedHistory; cursor: string | null; refreshedAt: number } | null = null;
  let refreshing: Promise<void> | null = null;

  async function refresh(): Promise<void> {
    // One snapshot for the new attempts and the count, so a commit in between is not a mismatch.
    await pool.transaction(async (tx) => {
      await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
      const startedAt = clock();
      const previous = learned;
      if (previous !== null) {
        const page = await loadSettledAttempts(tx, previous.cursor);
        const { history } = learnFromAttempts(previous.history, page.attempts);
        if (history.attempts.size === (await countSettledAttempts(tx))) {
          learned = { history, cursor: page.cursor, refreshedAt: startedAt };
          return;
        }
        // Something was missed (a commit later than the look-back) or is gone: the cursor cannot be trusted.
      }
      const page = await loadSettledAttempts(tx, null);
      const { history } = learnFromAttempts(emptyLearnedHistory(params), page.attempts);
      learned = { history, cursor: page.cursor, refreshedAt: startedAt };
    });
  }

  return {
    async current() {
      if (learned === null || clock() - learned.refreshedAt >= refreshEveryMs) {
        // Concurrent decisions share one refresh.
        refreshing ??= refresh().finally(() => {
          refreshing = null;
        });
        await refreshing;
      }
      return learned!.history.model;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The activity

export function createRetryDecisionActivities(dependencies: RetryDecisionDependencies) {
  const { pool } = dependencies;
  const learnedModel = createLearnedRetryModel(dependencies);
  return {
    /** When to retry the failed payment, and why; the same answer however often it is asked. */
    async decideRetryTime(input: DecideRetryTimeInput): Promise<RetryDecision> {
      const id = retryDecisionId(input.invoiceId, input.request);
      const stored = await findRetryDecision(pool, id);
      if (stored) return stored.decision;

      const invalid = invalidInstant(input);
      if (invalid) throw ApplicationFailure.nonRetryable(`retry request for ${input.invoiceId}: ${invalid} is not an instant`, 'InvalidRetryRequest');
      const model = await learnedModel.current();
      const customer = await loadRetryCustomerContext(pool, input.customerId, input.paymentMethodToken, input.now);
      if (!customer) throw ApplicationFailure.nonRetryable(`customer ${input.customerId} does not exist`, 'UnknownCustomer');
      const { request } = input;
      const features: RetryFeatures = {
        declineCode: request.declineCode,
        retryNumber: request.retryNumber,
        attemptsLeft: request.attemptsLeft,
        minHoursBetweenRetries: request.minHoursBetweenRetries,
        firstFailureAt: request.firstFailureAt,
        lastAttemptAt: request.lastAttemptAt,
        window: { earliest: request.window.earliest, latest: request.window.latest },
        amount: input.amount,
        gateway: input.gateway,
        cardType: customer.cardType,
        utcOffsetMinutes: customer.utcOffsetMinutes,
        customerHistory: customer.history,
      };
      let decision: RetryDecision;
      try {
        decision = chooseRetryTime(model, features, input.now);
      } catch (error) {
        // The window holds no instant after now: asking again cannot change that.
        if (error instanceof RangeError) throw ApplicationFailure.nonRetryable(error.message, 'NoRetrySlot');
        throw error;
      }
      const recorded = await recordRetryDecision(pool, {
        id,
        invoiceId: input.invoiceId,
        customerId: input.customerId,
        retryNumber: request.retryNumber,
        decidedAt: input.now,
        decision,
        modelRetriesCounted: model.retriesCounted,
        features,
      });
      return recorded.decision;
    },
  };
}

function invalidInstant(input: DecideRetryTimeInput): string | null {
  const { request } = input;
  const instants: Record<string, string> = {
    now: input.now,
    firstFailureAt: request.firstFailureAt,
    lastAttemptAt: request.lastAttemptAt,
    'window.earliest': request.window.earliest,
    'window.latest': request.window.latest,
  };
  for (const [name, value] of Object.entries(instants)) if (Number.isNaN(Date.parse(value))) return name;
  return null;
}

export type RetryDecisionActivities = ReturnType<typeof createRetryDecisionActivities>;
