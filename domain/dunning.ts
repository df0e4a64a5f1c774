// Dunning: what happens after a renewal or installment payment fails, as one pure step function.
//
// A failure opens dunning: the subscription goes past_due, access is kept for the policy's grace
// period, and retries run inside the retry window (budget: at most `maxAttempts` automatic
// retries within `windowDays` of the first failure). Retries start right away, during the grace
// period: grace is about access, not about waiting to retry (a payday often comes before the
// grace period ends). Each failed charge is classified (domain/declines):
//   soft             -> an automatic retry at a time chosen by the retry model (smart), by the
//                       fixed schedule, or none at all (the customer is asked to pay), per policy
//   hard / expired / action required
//                    -> never retried blindly: the customer is asked for a new payment method
//                       (or to authenticate, or to update the card) until the window closes
// A new payment method triggers an immediate retry (it does not use the budget: the budget
// protects a card from being hammered, and this is another card, on the customer's request).
// A successful charge ends dunning as recovered; the renewal anchor does not move, so the next
// renewal keeps its date. When the budget or the window runs out, the plan's end action applies
// (cancel, pause or mark unpaid).
//
// The caller (the workflow) holds the state, feeds every outcome to nextDunningStep and does what
// the step says. The model's decision is an input made earlier by an activity (see
// retryRequest), so the workflow stays deterministic on replay.
import { addDays, DAY_MS } from './calendar';
import { classifyDecline, type CustomerAction, type DeclineClass, type DeclineClassification } from './declines';
import { FIXED_RETRY_DAYS, nextRetryAt } from './dunning-policy';
import { noticeIdempotencyKey, type EndAction, type NoticeKind } from './notices';
import type { RetryDecision, RetryFeatures, RetryWindow } from './retry-model';

export type { EndAction } from './notices';

const HOUR_MS = 3_600_000;

/** smart: the retry model picks each time; fixed: `fixedScheduleDays`; none: no automatic retries. */
export type RetryStrategy = 'smart' | 'fixed' | 'none';

export interface RetryBudget {
  /** Automatic retries allowed after the first failure. */
  readonly maxAttempts: number;
  /** Days after the first failure during which retries may happen. */
  readonly windowDays: number;
}

export interface DunningPolicy {
  /** Days after the first failure during which the customer keeps access. */
  readonly graceDays: number;
  readonly budget: RetryBudget;
  readonly endAction: EndAction;
  readonly strategy: RetryStrategy;
  /** Days after the first failure of each retry for the fixed strategy, and the smart one's fallback. */
  readonly fixedScheduleDays: readonly number[];
  /** Spacing between a failed attempt and the next automatic retry. */
  readonly minHoursBetweenRetries: number;
  /**
   * Shorter spacing after a temporary error (processing error, gateway unreachable), for one
   * retry per dunning: if the error persists it is not that temporary, and a card must never be
   * tried hour after hour.
   */
  readonly minHoursAfterTemporaryError: number;
  /**
   * An optional floor: below this estimated success the smart strategy asks the customer instead
   * of retrying. The model already plans only attempts worth their cost (its attemptCostMinorUnits).
   */
  readonly minRetryScore: number;
  /** How long before the window closes the final notice goes out when waiting on the customer. */
  readonly finalNoticeDaysBeforeEnd: number;
}

/**
 * 8 retries within 14 days is Stripe's recommended Smart Retries default. Retries are spaced by
 * 12 hours at least (two a day at most keeps issuers' velocity rules quiet). The end action
 * defaults to marking the invoice unpaid, what the subscription workflow did before dunning.
 */
export const DEFAULT_DUNNING_POLICY: DunningPolicy = {
  graceDays: 7,
  budget: { maxAttempts: 8, windowDays: 14 },
  endAction: 'mark_unpaid',
  strategy: 'smart',
  fixedScheduleDays: FIXED_RETRY_DAYS,
  minHoursBetweenRetries: 12,
  minHoursAfterTemporaryError: 1,
  minRetryScore: 0,
  finalNoticeDaysBeforeEnd: 3,
};

export type DunningPolicyOverride = Partial<Omit<DunningPolicy, 'budget'>> & { readonly budget?: Partial<RetryBudget> };

/**
 * Per-plan choices of the business: a 1:1 coaching client is paused rather than lost, and given
 * longer; a community membership is canceled after a short grace period.
 */
export const PLAN_DUNNING_OVERRIDES: Readonly<Record<string, DunningPolicyOverride>> = {
  elite: { graceDays: 10, endAction: 'pause' },
  community: { graceDays: 3, endAction: 'cancel' },
};

export function applyDunningOverride(base: DunningPolicy, override: DunningPolicyOverride | undefined): DunningPolicy {
  if (!override) return base;
  return { ...base, ...override, budget: { ...base.budget, ...override.budget } };
}

/** The policy of a plan: the defaults with the plan's overrides. */
export function dunningPolicyFor(
  planId: string,
  overrides: Readonly<Record<string, DunningPolicyOverride>> = PLAN_DUNNING_OVERRIDES,
  defaults: DunningPolicy = DEFAULT_DUNNING_POLICY,
): DunningPolicy {
  return applyDunningOverride(defaults, overrides[planId]);
}

/** What is wrong with a policy (configuration is validated at the edge), empty when nothing. */
export function dunningPolicyProblems(p: DunningPolicy): string[] {
  const problems: string[] = [];
  const nonNegative = (name: string, v: number) => {
    if (!Number.isFinite(v) || v < 0) problems.push(`${name} must be a non-negative number`);
  };
  if (!Number.isInteger(p.budget.maxAttempts) || p.budget.maxAttempts < 0) problems.push('budget.maxAttempts must be a non-negative integer');
  if (!Number.isFinite(p.budget.windowDays) || p.budget.windowDays <= 0) problems.push('budget.windowDays must be positive');
  nonNegative('graceDays', p.graceDays);
  nonNegative('minHoursBetweenRetries', p.minHoursBetweenRetries);
  nonNegative('minHoursAfterTemporaryError', p.minHoursAfterTemporaryError);
  nonNegative('finalNoticeDaysBeforeEnd', p.finalNoticeDaysBeforeEnd);
  if (!(p.minRetryScore >= 0 && p.minRetryScore < 1)) problems.push('minRetryScore must be in [0, 1)');
  if (p.fixedScheduleDays.some((d, i) => !(d > 0) || (i > 0 && d <= p.fixedScheduleDays[i - 1]!))) {
    problems.push('fixedScheduleDays must be positive and increasing');
  }
  if (!['cancel', 'pause', 'mark_unpaid'].includes(p.endAction)) problems.push(`unknown endAction ${String(p.endAction)}`);
  if (!['smart', 'fixed', 'none'].includes(p.strategy)) problems.push(`unknown strategy ${String(p.strategy)}`);
  return problems;
}

// ---------------------------------------------------------------------------------------------
// State, events, steps

export type DunningPhase = 'retrying' | 'awaiting_customer' | 'recovered' | 'ended';
export type ChargeTrigger = 'initial' | 'automatic' | 'new_payment_method';

export interface ScheduledRetry {
  readonly at: string;
  readonly trigger: 'automatic' | 'new_payment_method';
  /** model: the retry model chose it; fixed_schedule: the fixed days; customer: a new method. */
  readonly source: 'model' | 'fixed_schedule' | 'customer';
  readonly reason: string;
  /** The model's success estimate; null when the model did not choose. */
  readonly score: number | null;
}

export interface DunningState {
  readonly invoiceId: string;
  readonly phase: DunningPhase;
  readonly firstFailureAt: string;
  /** Fixed when dunning opens, so a policy edit never moves a running deadline. */
  readonly windowEndsAt: string;
  readonly accessUntil: string;
  /** Charge attempts since the first failure, that one included. */
  readonly attempts: number;
  readonly automaticRetries: number;
  readonly lastAttemptAt: string;
  readonly lastDeclineCode: string;
  readonly lastDeclineClass: DeclineClass;
  readonly scheduled: ScheduledRetry | null;
  /** The one quick retry after a temporary error has been scheduled. */
  readonly quickRetryUsed: boolean;
  readonly finalNoticeScheduled: boolean;
}

export type DunningEvent =
  | { readonly kind: 'charge_failed'; readonly invoiceId: string; readonly at: string; readonly declineCode: string; readonly trigger: ChargeTrigger }
  | { readonly kind: 'charge_succeeded'; readonly invoiceId: string; readonly at: string; readonly trigger: ChargeTrigger }
  | { readonly kind: 'payment_method_updated'; readonly at: string }
  /** The `until` of an ask step has come: the window is closed. */
  | { readonly kind: 'deadline_reached'; readonly at: string };

export type DunningStep =
  | ({ readonly kind: 'retry_at' } & ScheduledRetry)
  | { readonly kind: 'ask_for_new_method'; readonly until: string; readonly customerAction: CustomerAction; readonly reason: string }
  | { readonly kind: 'end_with_action'; readonly action: EndAction; readonly at: string; readonly reason: string }
  | { readonly kind: 'recovered'; readonly at: string; readonly reason: string };

export interface ScheduledNotice {
  readonly kind: NoticeKind;
  /** Send at this instant (now, or later: a final notice waits for its day). */
  readonly at: string;
  /** The dunning step it belongs to: charge attempts made when it was decided. */
  readonly step: number;
  readonly idempotencyKey: string;
}

export interface DunningTransition {
  readonly state: DunningState;
  readonly step: DunningStep;
  /** Notices to send; a future one is dropped by the caller if dunning is over by then. */
  readonly notices: readonly ScheduledNotice[];
}

/** The dunning part of the retry model's features (see retry-model RetryFeatures). */
export type RetryRequest = Pick<RetryFeatures, 'declineCode' | 'retryNumber' | 'attemptsLeft' | 'minHoursBetweenRetries' | 'firstFailureAt' | 'lastAttemptAt' | 'window'>;

export class DunningError extends Error {}

// ---------------------------------------------------------------------------------------------
// The step function

/** After a failed charge: the updated state and what kind of step follows, before any decision. */
type Plan =
  | { readonly kind: 'retry'; readonly state: DunningState; readonly classification: DeclineClassification; readonly window: RetryWindow; readonly firstFailure: boolean }
  | { readonly kind: 'ask'; readonly state: DunningState; readonly classification: DeclineClassification; readonly reason: string; readonly firstFailure: boolean }
  | { readonly kind: 'end'; readonly state: DunningState; readonly reason: string; readonly firstFailure: boolean };

function openState(policy: DunningPolicy, invoiceId: string, at: string, declineCode: string, declineClass: DeclineClass): DunningState {
  return {
    invoiceId,
    phase: 'retrying',
    firstFailureAt: at,
    windowEndsAt: addDays(at, policy.budget.windowDays),
    accessUntil: addDays(at, policy.graceDays),
    attempts: 1,
    automaticRetries: 0,
    lastAttemptAt: at,
    lastDeclineCode: declineCode,
    lastDeclineClass: declineClass,
    scheduled: null,
    quickRetryUsed: false,
    finalNoticeScheduled: false,
  };
}

function planAfterFailure(policy: DunningPolicy, state: DunningState | null, event: Extract<DunningEvent, { kind: 'charge_failed' }>): Plan {
  const classification = classifyDecline(event.declineCode);
  const firstFailure = state === null;
  const base = state ?? openState(policy, event.invoiceId, event.at, classification.code, classification.declineClass);
  const next: DunningState = firstFailure
    ? base
    : {
        ...base,
        attempts: base.attempts + 1,
        automaticRetries: base.automaticRetries + (event.trigger === 'automatic' ? 1 : 0),
        lastAttemptAt: event.at,
        lastDeclineCode: classification.code,
        lastDeclineClass: classification.declineClass,
        scheduled: null,
      };
  if (!classification.retryable) {
    return { kind: 'ask', state: next, classification, firstFailure, reason: `${classification.declineClass} decline (${classification.code}): ${classification.description}; not retried blindly` };
  }
  if (policy.strategy === 'none') {
    return { kind: 'ask', state: next, classification, firstFailure, reason: `soft decline (${classification.code}); this plan makes no automatic retries` };
  }
  if (next.automaticRetries >= policy.budget.maxAttempts) {
    return { kind: 'end', state: next, firstFailure, reason: `retry budget exhausted: ${next.automaticRetries} of ${policy.budget.maxAttempts} automatic retries used` };
  }
  const quick = classification.group === 'temporary_error' && !base.quickRetryUsed;
  const gapHours = quick ? policy.minHoursAfterTemporaryError : policy.minHoursBetweenRetries;
  const earliest = Date.parse(event.at) + gapHours * HOUR_MS;
  if (earliest > Date.parse(next.windowEndsAt)) {
    return { kind: 'end', state: next, firstFailure, reason: `retry window closed: no retry fits before ${next.windowEndsAt}` };
  }
  return { kind: 'retry', state: next, classification, firstFailure, window: { earliest: new Date(earliest).toISOString(), latest: next.windowEndsAt } };
}

/**
 * What the retry model needs from dunning to choose the next time, or null when this outcome
 * leads to no model-chosen retry (success, hard decline, budget or window exhausted, or a plan
 * that does not use the model). The activity adds the customer's context to make RetryFeatures.
 */
export function retryRequest(policy: DunningPolicy, state: DunningState | null, event: DunningEvent): RetryRequest | null {
  if (event.kind !== 'charge_failed' || policy.strategy !== 'smart' || isClosed(state)) return null;
  const plan = planAfterFailure(policy, state, event);
  if (plan.kind !== 'retry') return null;
  return {
    declineCode: plan.classification.code,
    retryNumber: plan.state.automaticRetries + 1,
    attemptsLeft: policy.budget.maxAttempts - plan.state.automaticRetries,
    minHoursBetweenRetries: policy.minHoursBetweenRetries,
    firstFailureAt: plan.state.firstFailureAt,
    lastAttemptAt: plan.state.lastAttemptAt,
    window: plan.window,
  };
}

function isClosed(state: DunningState | null): boolean {
  return state !== null && (state.phase === 'recovered' || state.phase === 'ended');
}

function notice(kind: NoticeKind, state: DunningState, at: string): ScheduledNotice {
  return { kind, at, step: state.attempts, idempotencyKey: noticeIdempotencyKey(kind, state.invoiceId, state.attempts) };
}

function laterOf(a: string, b: string): string {
  return Date.parse(a) >= Date.parse(b) ? a : b;
}

function clampInto(at: string, window: RetryWindow): string {
  const ms = Math.min(Math.max(Date.parse(at), Date.parse(window.earliest)), Date.parse(window.latest));
  return new Date(ms).toISOString();
}

function ask(policy: DunningPolicy, state: DunningState, at: string, customerAction: CustomerAction, reason: string, first: ScheduledNotice): DunningTransition {
  const next: DunningState = { ...state, phase: 'awaiting_customer', scheduled: null, finalNoticeScheduled: true };
  const notices: ScheduledNotice[] = [first];
  if (!state.finalNoticeScheduled) {
    const finalAt = laterOf(at, addDays(state.windowEndsAt, -policy.finalNoticeDaysBeforeEnd));
    notices.push(notice('final_notice', next, finalAt));
  }
  return { state: next, step: { kind: 'ask_for_new_method', until: state.windowEndsAt, customerAction, reason }, notices };
}

function end(policy: DunningPolicy, state: DunningState, at: string, reason: string): DunningTransition {
  return {
    state: { ...state, phase: 'ended', scheduled: null },
    step: { kind: 'end_with_action', action: policy.endAction, at, reason: `${reason}; ${policy.endAction.replace('_', ' ')}` },
    notices: [],
  };
}

function terminalStep(policy: DunningPolicy, state: DunningState): DunningTransition {
  const step: DunningStep =
    state.phase === 'recovered'
      ? { kind: 'recovered', at: state.lastAttemptAt, reason: 'dunning already recovered' }
      : { kind: 'end_with_action', action: policy.endAction, at: state.lastAttemptAt, reason: 'dunning already ended' };
  return { state, step, notices: [] };
}

function retryAt(state: DunningState, scheduled: ScheduledRetry, notices: ScheduledNotice[]): DunningTransition {
  return { state: { ...state, phase: 'retrying', scheduled }, step: { kind: 'retry_at', ...scheduled }, notices };
}

/**
 * The next step of dunning after `event`. `state` is null before the first failure (the event
 * must then be that failure). `decision` is the retry model's choice for this very event (from
 * retryRequest -> chooseRetryTime in an activity), or null: without one, the smart strategy falls
 * back to the fixed schedule. Events after dunning closed change nothing.
 */
export function nextDunningStep(policy: DunningPolicy, state: DunningState | null, event: DunningEvent, decision: RetryDecision | null): DunningTransition {
  if (state === null && event.kind !== 'charge_failed') throw new DunningError(`dunning opens with a failed charge, not ${event.kind}`);
  if (state !== null && (event.kind === 'charge_failed' || event.kind === 'charge_succeeded') && event.invoiceId !== state.invoiceId) {
    throw new DunningError(`event for invoice ${event.invoiceId} given to dunning of ${state.invoiceId}`);
  }
  if (state !== null && isClosed(state)) return terminalStep(policy, state);

  switch (event.kind) {
    case 'charge_succeeded': {
      const s = state!;
      const next: DunningState = { ...s, phase: 'recovered', attempts: s.attempts + 1, automaticRetries: s.automaticRetries + (event.trigger === 'automatic' ? 1 : 0), lastAttemptAt: event.at, scheduled: null };
      return {
        state: next,
        step: { kind: 'recovered', at: event.at, reason: `paid after ${next.attempts - 1} retr${next.attempts === 2 ? 'y' : 'ies'}; the renewal date is unchanged` },
        notices: [notice('recovered', next, event.at)],
      };
    }
    case 'payment_method_updated': {
      const s = state!;
      return retryAt(s, { at: event.at, trigger: 'new_payment_method', source: 'customer', reason: 'the customer added a new payment method: charge it now', score: null }, []);
    }
    case 'deadline_reached': {
      const s = state!;
      if (Date.parse(event.at) >= Date.parse(s.windowEndsAt)) return end(policy, s, event.at, `no payment by ${s.windowEndsAt}`);
      // Early: nothing changes; say again what is pending.
      if (s.scheduled) return { state: s, step: { kind: 'retry_at', ...s.scheduled }, notices: [] };
      return { state: s, step: { kind: 'ask_for_new_method', until: s.windowEndsAt, customerAction: 'update_payment_method', reason: 'waiting for the customer' }, notices: [] };
    }
    case 'charge_failed':
      return afterFailure(policy, state, event, decision);
  }
}

function afterFailure(policy: DunningPolicy, state: DunningState | null, event: Extract<DunningEvent, { kind: 'charge_failed' }>, decision: RetryDecision | null): DunningTransition {
  const plan = planAfterFailure(policy, state, event);
  const s = plan.state;
  switch (plan.kind) {
    case 'end':
      return end(policy, s, event.at, plan.reason);
    case 'ask': {
      const c = plan.classification;
      const action: CustomerAction = c.customerAction === 'none' ? 'update_payment_method' : c.customerAction;
      // A soft decline on a plan without retries gets the gentle notice; anything needing the
      // customer gets the action-required one with the update link.
      const firstKind: NoticeKind = c.retryable && plan.firstFailure ? 'payment_failed' : 'action_required';
      return ask(policy, s, event.at, action, plan.reason, notice(firstKind, s, event.at));
    }
    case 'retry':
      return scheduleRetry(policy, s, plan, event.at, decision);
  }
}

function scheduleRetry(policy: DunningPolicy, s: DunningState, plan: Extract<Plan, { kind: 'retry' }>, now: string, decision: RetryDecision | null): DunningTransition {
  const retryNumber = s.automaticRetries + 1;
  let scheduled: ScheduledRetry;
  let lastOfSchedule = false;
  if (policy.strategy === 'smart' && decision) {
    if (decision.plan.length === 0 || decision.score < policy.minRetryScore) {
      const reason =
        decision.plan.length === 0
          ? `retry model finds no retry worth its cost for ${plan.classification.code} (best ${(decision.score * 100).toFixed(1)}%): asking the customer instead`
          : `retry model gives ${(decision.score * 100).toFixed(1)}% (< ${(policy.minRetryScore * 100).toFixed(1)}%) for ${plan.classification.code}: asking the customer instead`;
      return ask(policy, s, now, 'update_payment_method', reason, notice(plan.firstFailure ? 'payment_failed' : 'action_required', s, now));
    }
    scheduled = { at: clampInto(decision.at, plan.window), trigger: 'automatic', source: 'model', reason: decision.reason, score: decision.score };
  } else {
    const day = nextRetryAt(s.firstFailureAt, retryNumber, policy.fixedScheduleDays);
    if (day === null) return end(policy, s, now, `fixed schedule exhausted after ${s.automaticRetries} retries`);
    if (Date.parse(day) > Date.parse(plan.window.latest)) return end(policy, s, now, `fixed schedule's next retry ${day} is past the window`);
    const at = laterOf(day, plan.window.earliest);
    scheduled = { at, trigger: 'automatic', source: 'fixed_schedule', reason: `fixed schedule: retry ${retryNumber} on day ${policy.fixedScheduleDays[retryNumber - 1]} after the first failure`, score: null };
    lastOfSchedule = retryNumber >= policy.fixedScheduleDays.length;
  }
  const last =
    lastOfSchedule ||
    retryNumber >= policy.budget.maxAttempts ||
    Date.parse(scheduled.at) + policy.minHoursBetweenRetries * HOUR_MS > Date.parse(plan.window.latest);
  const notices: ScheduledNotice[] = [];
  if (plan.firstFailure) notices.push(notice('payment_failed', s, now));
  const quick = Date.parse(scheduled.at) - Date.parse(now) < policy.minHoursBetweenRetries * HOUR_MS;
  let next: DunningState = quick ? { ...s, quickRetryUsed: true } : s;
  if (last && !s.finalNoticeScheduled) {
    next = { ...next, finalNoticeScheduled: true };
    notices.push(notice('final_notice', next, now));
  }
  // A hard decline earlier in this dunning already asked for a new method; a soft one now (a new
  // card that also failed) goes back to retrying.
  return retryAt(next, scheduled, notices);
}

/** Whether the customer keeps access at `at`: through the grace period, and again once paid. */
export function hasAccess(state: DunningState, at: string): boolean {
  if (state.phase === 'recovered') return true;
  if (state.phase === 'ended') return false;
  return Date.parse(at) < Date.parse(state.accessUntil);
}

/** Days (fractional) from the first failure to `at`, for reports: 1.5 for a day and a half. */
export function daysInDunning(state: DunningState, at: string): number {
  return (Date.parse(at) - Date.parse(state.firstFailureAt)) / DAY_MS;
}
