// Runs dunning policies over simulated failed payments: the legacy workflow behaviour (blind
// retries on days 1, 3, 5, 7, no notices) and the real domain code (domain/dunning with the
// decline classification, notices and, for the smart strategy, domain/retry-model).
import { DAY_MS } from '../domain/calendar';
import { classifyDecline, type DeclineClass } from '../domain/declines';
import { nextDunningStep, retryRequest, type DunningEvent, type DunningPolicy, type DunningState } from '../domain/dunning';
import { FIXED_RETRY_DAYS } from '../domain/dunning-policy';
import { NOTICE_KINDS, type NoticeKind } from '../domain/notices';
import { chooseRetryTime, type CardType, type CustomerPayment, type PaymentAttemptRecord, type RetryModel } from '../domain/retry-model';
import { BASELINE_WORLD, CustomerWorld, renewalInstant, RESPONSE, type Cause, type Customer, drawCustomer, HOUR_MS, type WorldAssumptions } from './dunning-world';
import { hash32 } from './rng';

export interface FailedPayment {
  readonly customer: Customer;
  readonly invoiceId: string;
  readonly failedAt: number;
  readonly declineCode: string;
  readonly cause: Cause;
  /** The world right after the failed charge; every policy runs on its own copy. */
  readonly world: CustomerWorld;
  /** The customer's own earlier payment attempts (for the model's customer factor). */
  readonly history: readonly PaymentAttemptRecord[];
}

export interface RunResult {
  readonly recovered: boolean;
  readonly recoveredAfterMs: number | null;
  /** Charges after the first failure (automatic retries and charges of a new method). */
  readonly attempts: number;
  readonly churned: boolean;
  readonly notices: Readonly<Record<NoticeKind, number>>;
  readonly reasons: readonly string[];
  readonly records: readonly PaymentAttemptRecord[];
}

/** The class of a true cause, for how the customer reacts (they know their card was stolen). */
function causeClass(cause: Cause): DeclineClass {
  switch (cause) {
    case 'lost':
    case 'closed':
    case 'fraud':
      return 'hard';
    case 'expired':
      return 'expired';
    case 'auth':
      return 'action_required';
    default:
      return 'soft';
  }
}

const ISO = (ms: number) => new Date(ms).toISOString();

function modelCardType(c: Customer): CardType {
  // PayPal does not tell the merchant what funds a vaulted account.
  return c.gateway === 'paypal' ? 'unknown' : c.cardType;
}

function record(c: Customer, invoiceId: string, ms: number, ok: boolean, code: string | null, trigger: PaymentAttemptRecord['trigger'], retryNumber: number): PaymentAttemptRecord {
  return {
    customerId: c.id,
    invoiceId,
    at: ISO(ms),
    succeeded: ok,
    declineCode: ok ? null : code,
    trigger,
    retryNumber,
    amount: c.amount,
    gateway: c.gateway,
    cardType: modelCardType(c),
    utcOffsetMinutes: c.utcOffsetMinutes,
  };
}

function noNotices(): Record<NoticeKind, number> {
  return Object.fromEntries(NOTICE_KINDS.map((k) => [k, 0])) as Record<NoticeKind, number>;
}

/**
 * What the project did before this issue: retry every decline on days 1, 3, 5, 7 after the first
 * failure, no notices; a customer who adds a new method on their own (having noticed lost access)
 * is charged at once.
 */
export function runLegacy(world: CustomerWorld, c: Customer, invoiceId: string, t0: number, cause: Cause, collect: boolean): RunResult {
  const records: PaymentAttemptRecord[] = [];
  const share = RESPONSE[causeClass(cause)] * RESPONSE.withoutNotices;
  let updateAt = c.care < share ? t0 + 2 * DAY_MS + 2 * world.responseDelay(t0, 99) : Infinity;
  const churnAt = t0 + c.churnAfterDays * DAY_MS;
  let attempts = 0;
  let automatic = 0;
  let lastCause = cause;
  for (const day of FIXED_RETRY_DAYS) {
    const scheduled = t0 + day * DAY_MS;
    while (updateAt <= scheduled) {
      if (updateAt >= churnAt) return { recovered: false, recoveredAfterMs: null, attempts, churned: true, notices: noNotices(), reasons: [], records };
      world.replaceMethod(updateAt, causeClass(lastCause) === 'soft' ? 'soft' : 'other');
      const at = updateAt;
      updateAt = Infinity;
      const r = world.attempt(at);
      attempts += 1;
      if (collect) records.push(record(c, invoiceId, at, r.ok, r.ok ? null : r.code, 'new_payment_method', automatic));
      if (r.ok) return { recovered: true, recoveredAfterMs: at - t0, attempts, churned: false, notices: noNotices(), reasons: [], records };
      lastCause = r.cause;
    }
    if (scheduled >= churnAt) return { recovered: false, recoveredAfterMs: null, attempts, churned: true, notices: noNotices(), reasons: [], records };
    const r = world.attempt(scheduled);
    attempts += 1;
    automatic += 1;
    if (collect) records.push(record(c, invoiceId, scheduled, r.ok, r.ok ? null : r.code, 'automatic', automatic));
    if (r.ok) return { recovered: true, recoveredAfterMs: scheduled - t0, attempts, churned: false, notices: noNotices(), reasons: [], records };
    lastCause = r.cause;
  }
  return { recovered: false, recoveredAfterMs: null, attempts, churned: false, notices: noNotices(), reasons: [], records };
}

/** The new dunning: domain/dunning decides every step; the retry model chooses smart times. */
export function runDunning(payment: FailedPayment, policy: DunningPolicy, model: RetryModel | null, collect: boolean): RunResult {
  const world = payment.world.clone();
  const c = payment.customer;
  const t0 = payment.failedAt;
  const customerHistory: CustomerPayment[] = payment.history.map((r) => ({ at: r.at, succeeded: r.succeeded, trigger: r.trigger }));
  const records: PaymentAttemptRecord[] = [];
  const notices = noNotices();
  const reasons: string[] = [];
  const churnAt = t0 + c.churnAfterDays * DAY_MS;
  let state: DunningState | null = null;
  let event: DunningEvent = { kind: 'charge_failed', invoiceId: payment.invoiceId, at: ISO(t0), declineCode: payment.declineCode, trigger: 'initial' };
  let lastCause = payment.cause;
  let updateAt = Infinity;
  let updated = false;
  let pendingFinal = Infinity;
  let attempts = 0;
  const result = (recovered: boolean, at: number | null, churned = false): RunResult => ({
    recovered,
    recoveredAfterMs: recovered && at !== null ? at - t0 : null,
    attempts,
    churned,
    notices,
    reasons,
    records,
  });
  const react = (kind: NoticeKind, at: number) => {
    notices[kind] += 1;
    if (updated || updateAt !== Infinity) return;
    const cls = causeClass(lastCause);
    let share: number = RESPONSE[cls];
    if (kind === 'final_notice') share += cls === 'soft' ? RESPONSE.finalNoticeExtraSoft : RESPONSE.finalNoticeExtra;
    if (kind === 'recovered') return;
    if (c.care < share) updateAt = at + world.responseDelay(at, NOTICE_KINDS.indexOf(kind));
  };

  for (let guard = 0; guard < 100; guard++) {
    let decision = null;
    if (model && policy.strategy === 'smart') {
      const request = retryRequest(policy, state, event);
      if (request) {
        decision = chooseRetryTime(
          model,
          { ...request, amount: c.amount, gateway: c.gateway, cardType: modelCardType(c), utcOffsetMinutes: c.utcOffsetMinutes, customerHistory },
          event.at,
        );
      }
    }
    const transition = nextDunningStep(policy, state, event, decision);
    state = transition.state;
    const now = Date.parse(event.at);
    for (const n of transition.notices) {
      const at = Date.parse(n.at);
      if (at <= now) react(n.kind, at);
      else pendingFinal = Math.min(pendingFinal, at);
    }
    const step = transition.step;
    if (step.kind === 'recovered') return result(true, Date.parse(step.at));
    if (step.kind === 'end_with_action') return result(false, null);
    if (step.kind === 'retry_at' && step.source === 'model' && reasons.length < 3) reasons.push(step.reason);
    const stepAt = Date.parse(step.kind === 'retry_at' ? step.at : step.until);
    // Whatever comes first: a pending final notice, the customer's update, churn, the step.
    for (;;) {
      const next = Math.min(pendingFinal, updateAt, churnAt, stepAt);
      if (next === churnAt && churnAt < stepAt && churnAt < updateAt) return result(false, null, true);
      if (next === pendingFinal && pendingFinal < stepAt) {
        pendingFinal = Infinity;
        react('final_notice', next);
        continue;
      }
      if (next === updateAt && updateAt <= stepAt) {
        world.replaceMethod(updateAt, causeClass(lastCause) === 'soft' ? 'soft' : 'other');
        updated = true;
        updateAt = Infinity;
        event = { kind: 'payment_method_updated', at: ISO(next) };
        break;
      }
      if (step.kind === 'retry_at') {
        const r = world.attempt(stepAt);
        attempts += 1;
        const retryNumber = state.automaticRetries + (step.trigger === 'automatic' ? 1 : 0);
        if (collect) records.push(record(c, payment.invoiceId, stepAt, r.ok, r.ok ? null : r.code, step.trigger, retryNumber));
        if (r.ok) {
          event = { kind: 'charge_succeeded', invoiceId: payment.invoiceId, at: ISO(stepAt), trigger: step.trigger };
        } else {
          lastCause = r.cause;
          event = { kind: 'charge_failed', invoiceId: payment.invoiceId, at: ISO(stepAt), declineCode: r.code, trigger: step.trigger };
        }
      } else {
        event = { kind: 'deadline_reached', at: ISO(stepAt) };
      }
      break;
    }
  }
  throw new Error(`dunning of ${payment.invoiceId} did not finish`);
}

/**
 * An upper bound for any retry timing, not a policy: recovered if a charge at some whole hour of
 * the 14-day window (before the customer would cancel) succeeds on the world as it stands after
 * the failure, or if `reference` (a real policy's run) recovered it through the customer.
 */
export function retryCeiling(payment: FailedPayment, reference: RunResult, windowDays: number): RunResult {
  const churnAt = payment.failedAt + payment.customer.churnAfterDays * DAY_MS;
  for (let t = payment.failedAt + HOUR_MS; t <= payment.failedAt + windowDays * DAY_MS && t < churnAt; t += HOUR_MS) {
    if (payment.world.clone().attempt(t).ok) {
      const at = reference.recovered && (reference.recoveredAfterMs ?? Infinity) < t - payment.failedAt ? payment.failedAt + (reference.recoveredAfterMs ?? 0) : t;
      return { ...reference, recovered: true, recoveredAfterMs: at - payment.failedAt, attempts: NaN, churned: false };
    }
  }
  return { ...reference, attempts: NaN };
}

export interface Population {
  readonly failed: FailedPayment[];
  /** Every payment attempt of the customers before their evaluated failure (the project's history). */
  readonly history: PaymentAttemptRecord[];
  readonly renewals: number;
  readonly failedRenewals: number;
  readonly customers: number;
  readonly churnedBefore: number;
}

/**
 * Draws customers, runs their monthly renewals (failures before the evaluation period go
 * through the legacy dunning, as they would have), and keeps the first renewal that fails
 * inside [evalStart, evalEnd) as a failed payment to evaluate, until `count` are collected.
 */
export function buildPopulation(
  name: string,
  seed: number,
  evalStart: { year: number; month0: number },
  evalMonths: number,
  count: number,
  assumptions: WorldAssumptions = BASELINE_WORLD,
): Population {
  const evalStartMs = Date.UTC(evalStart.year, evalStart.month0, 1);
  const evalEndMs = Date.UTC(evalStart.year, evalStart.month0 + evalMonths, 1);
  const historyMonths = 7;
  const startMs = Date.UTC(evalStart.year, evalStart.month0 - historyMonths, 1);
  const warmupMs = startMs - 60 * DAY_MS;
  const failed: FailedPayment[] = [];
  const history: PaymentAttemptRecord[] = [];
  let renewals = 0;
  let failedRenewals = 0;
  let churnedBefore = 0;
  let i = 0;
  while (failed.length < count) {
    const c = drawCustomer(`${name}_${i}`, hash32(seed, i), Math.floor(startMs / DAY_MS), assumptions);
    i += 1;
    const world = CustomerWorld.open(c, warmupMs);
    world.warmUpUntil(startMs);
    const own: PaymentAttemptRecord[] = [];
    for (let k = 0; ; k++) {
      const at = renewalInstant(c, evalStart.year, evalStart.month0 - historyMonths + k);
      if (at >= evalEndMs) break;
      if (at < startMs) continue;
      const invoiceId = `in_${c.id}_${k}`;
      const r = world.attempt(at);
      renewals += 1;
      own.push(record(c, invoiceId, at, r.ok, r.ok ? null : r.code, 'initial', 0));
      if (r.ok) continue;
      failedRenewals += 1;
      if (at >= evalStartMs) {
        failed.push({ customer: c, invoiceId, failedAt: at, declineCode: r.code, cause: r.cause, world: world.clone(), history: own.slice() });
        break;
      }
      const legacy = runLegacy(world, c, invoiceId, at, r.cause, true);
      own.push(...legacy.records);
      if (!legacy.recovered) {
        // Lost before the period: not a subscriber in it, but its attempts are history all the same.
        churnedBefore += 1;
        break;
      }
    }
    history.push(...own);
  }
  return { failed, history, renewals, failedRenewals, customers: i, churnedBefore };
}

export interface Figures {
  readonly label: string;
  readonly payments: number;
  readonly failedRevenue: number;
  readonly recoveredRevenue: number;
  readonly recovered: number;
  readonly recoveryRate: number;
  readonly revenueRecoveryRate: number;
  readonly attempts: number;
  readonly attemptsPerRecovery: number;
  readonly medianDaysToRecover: number;
  readonly p75DaysToRecover: number;
  readonly churned: number;
  readonly notices: Readonly<Record<NoticeKind, number>>;
  readonly byClass: Readonly<Record<DeclineClass, { payments: number; recovered: number }>>;
}

function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(label: string, payments: readonly FailedPayment[], results: readonly RunResult[]): Figures {
  let failedRevenue = 0;
  let recoveredRevenue = 0;
  let recovered = 0;
  let attempts = 0;
  let churned = 0;
  const days: number[] = [];
  const notices = noNotices();
  const byClass = { hard: { payments: 0, recovered: 0 }, expired: { payments: 0, recovered: 0 }, action_required: { payments: 0, recovered: 0 }, soft: { payments: 0, recovered: 0 } };
  payments.forEach((p, i) => {
    const r = results[i]!;
    failedRevenue += p.customer.amount;
    attempts += r.attempts;
    if (r.churned) churned += 1;
    for (const k of NOTICE_KINDS) notices[k] += r.notices[k];
    const cls = classifyDecline(p.declineCode).declineClass;
    byClass[cls].payments += 1;
    if (r.recovered) {
      recovered += 1;
      recoveredRevenue += p.customer.amount;
      days.push((r.recoveredAfterMs ?? 0) / DAY_MS);
      byClass[cls].recovered += 1;
    }
  });
  days.sort((a, b) => a - b);
  return {
    label,
    payments: payments.length,
    failedRevenue,
    recoveredRevenue,
    recovered,
    recoveryRate: recovered / payments.length,
    revenueRecoveryRate: recoveredRevenue / failedRevenue,
    attempts,
    attemptsPerRecovery: recovered === 0 ? Infinity : attempts / recovered,
    medianDaysToRecover: quantile(days, 0.5),
    p75DaysToRecover: quantile(days, 0.75),
    churned,
    notices,
    byClass,
  };
}

export { HOUR_MS };
