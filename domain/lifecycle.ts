// The subscription lifecycle as pure decisions. Given a subscription's state and a requested
// change, a decision either refuses with a sentence a customer can read, or says what happens:
// when it takes effect, the state afterwards, and the invoice lines to bill now (proration).
// The workflow enforces these decisions; the API explains refusals with the same reasons.
//
// Timing rules for plan changes (classifyPlanChange):
//   applied now, prorated:  a higher plan (tier), a longer interval, more seats
//   at period end:          a lower plan, a shorter interval (annual -> monthly), fewer seats,
//                           or another price version of the same plan
// During a trial any plan change applies now with nothing to prorate (nothing was paid).
//
// Anchor resets: when a decision's `anchorReset` is true, `state.anchor` is a new anchor and
// regular periods are counted again from it: the next one is
// billingPeriod(state.anchor, state.plan.interval, state.nextPeriodIndex). Invoice ids derived
// from period indexes must then be made distinct from the earlier cycle's (an anchor epoch).
import { addDays, addMonthsClamped, billingPeriod, daysBetween, isoDate, monthsIn, periodIndexAt, periodStart, type BillingPeriod } from './calendar';
import { PLAN_TIERS, priceLabel, type PriceSnapshot } from './catalog';
import type { InvoiceLine } from './invoice';
import { lineAmount } from './invoice';
import {
  creditLine,
  fullPeriodCoverage,
  isWithin,
  prorateAnchorChange,
  prorateChange,
  remainingTimeCharge,
  remainingTimeLine,
  splitPeriodDays,
  unusedTimeCredit,
  type PaidCoverage,
} from './proration';
import { cancelRejection, isEnded, type SubscriptionStatus } from './subscription';

/** Shift: the clock stops while paused, the anchor moves by the paused days. Keep: the anchor stays. */
export type PauseAnchor = 'shift' | 'keep';

export interface PauseState {
  readonly pausedAt: string;
  readonly anchor: PauseAnchor;
  /** When the workflow should resume it by itself; null for an open-ended pause. */
  readonly resumesAt: string | null;
}

export interface ScheduledChange {
  readonly effectiveAt: string;
  readonly plan: PriceSnapshot;
  readonly quantity: number;
}

export interface SubscriptionState {
  readonly status: SubscriptionStatus;
  readonly plan: PriceSnapshot;
  readonly quantity: number;
  readonly anchor: string;
  /** Index, counted from the anchor, of the next regular period to bill. */
  readonly nextPeriodIndex: number;
  /** The period being served now; null during a trial. Its index is -1 for a stub before a new anchor. */
  readonly currentPeriod: BillingPeriod | null;
  /** What was paid for the current period and for which days; null when nothing was (yet). */
  readonly paid: PaidCoverage | null;
  readonly trialEnd: string | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly canceledAt: string | null;
  readonly scheduledChange: ScheduledChange | null;
  readonly pause: PauseState | null;
}

export type ChangeRequest =
  | { readonly kind: 'pause'; readonly at: string; readonly anchor: PauseAnchor; readonly resumesAt?: string | null }
  | { readonly kind: 'resume'; readonly at: string }
  | { readonly kind: 'cancel'; readonly at: string; readonly when: 'now' | 'period_end'; readonly refundUnusedTime?: boolean }
  | { readonly kind: 'undo_cancel'; readonly at: string }
  | { readonly kind: 'reactivate'; readonly at: string; readonly plan?: PriceSnapshot; readonly quantity?: number }
  | { readonly kind: 'change_plan'; readonly at: string; readonly plan: PriceSnapshot; readonly quantity?: number }
  | { readonly kind: 'change_quantity'; readonly at: string; readonly quantity: number }
  | { readonly kind: 'change_anchor'; readonly at: string; readonly newAnchor: string };

export type ChangeDecision =
  | {
      readonly ok: true;
      readonly kind: ChangeRequest['kind'];
      /** 'now', or 'period_end' for changes that wait for the current period (or trial) to end. */
      readonly timing: 'now' | 'period_end';
      readonly effectiveAt: string;
      readonly state: SubscriptionState;
      /** Lines to invoice now (proration credits are negative); empty when nothing is billed. */
      readonly invoiceLines: readonly InvoiceLine[];
      /** Sum of invoiceLines: due now when positive; a credit for the customer's balance when negative. */
      readonly amountDue: number;
      readonly anchorReset: boolean;
      readonly summary: string;
    }
  | { readonly ok: false; readonly reason: string };

type Accepted = Extract<ChangeDecision, { ok: true }>;

function accept(
  kind: ChangeRequest['kind'],
  fields: Omit<Accepted, 'ok' | 'kind' | 'amountDue' | 'anchorReset' | 'invoiceLines'> & { invoiceLines?: readonly InvoiceLine[]; anchorReset?: boolean },
): ChangeDecision {
  const invoiceLines = fields.invoiceLines ?? [];
  return {
    ok: true,
    kind,
    ...fields,
    invoiceLines,
    amountDue: invoiceLines.reduce((s, l) => s + l.amount, 0),
    anchorReset: fields.anchorReset ?? false,
  };
}

function reject(reason: string): ChangeDecision {
  return { ok: false, reason };
}

function planName(plan: PriceSnapshot, quantity: number): string {
  return `${priceLabel(plan)}${quantity === 1 ? '' : ` x ${quantity}`}`;
}

function validInstant(at: string): boolean {
  return !Number.isNaN(Date.parse(at));
}

// ---- Starting ----

/**
 * A new subscription: with a trial, it is trialing and its first period starts when the trial
 * ends (the anchor); without, it is incomplete until the first period's invoice is paid.
 */
export function startSubscription(args: { plan: PriceSnapshot; quantity?: number; at: string; trialDays?: number }): SubscriptionState {
  const quantity = args.quantity ?? 1;
  const trialDays = args.trialDays ?? 0;
  const base = { plan: args.plan, quantity, paid: null, cancelAtPeriodEnd: false, canceledAt: null, scheduledChange: null, pause: null };
  if (trialDays > 0) {
    const trialEnd = addDays(args.at, trialDays);
    return { ...base, status: 'trialing', anchor: trialEnd, nextPeriodIndex: 0, currentPeriod: null, trialEnd };
  }
  return { ...base, status: 'incomplete', anchor: args.at, nextPeriodIndex: 1, currentPeriod: billingPeriod(args.at, args.plan.interval, 0), trialEnd: null };
}

/** The current period's invoice was paid: the subscription is active and the amount covers the period. */
export function markPeriodPaid(state: SubscriptionState, amount: number): SubscriptionState {
  if (!state.currentPeriod) throw new RangeError('there is no current period to pay for');
  return { ...state, status: 'active', paid: { amount, start: state.currentPeriod.start, end: state.currentPeriod.end } };
}

/** When the next regular invoice is due, or null when none will be (ended, paused, canceling). */
export function nextBillingDate(state: SubscriptionState): string | null {
  if (isEnded(state.status) || state.status === 'paused' || state.cancelAtPeriodEnd) return null;
  return periodStart(state.anchor, state.plan.interval, state.nextPeriodIndex);
}

/**
 * At a period boundary: the next regular period begins, with a scheduled change or a pending
 * cancellation applied first. Nothing is paid for the new period until markPeriodPaid.
 */
export function startNextPeriod(state: SubscriptionState): { readonly state: SubscriptionState; readonly anchorReset: boolean } {
  const boundary = periodStart(state.anchor, state.plan.interval, state.nextPeriodIndex);
  if (state.cancelAtPeriodEnd) {
    return { state: { ...state, status: 'canceled', canceledAt: boundary, cancelAtPeriodEnd: false, scheduledChange: null, paid: null }, anchorReset: false };
  }
  const change = state.scheduledChange;
  if (change && Date.parse(change.effectiveAt) <= Date.parse(boundary)) {
    const anchorReset = change.plan.interval !== state.plan.interval;
    const anchor = anchorReset ? boundary : state.anchor;
    const index = anchorReset ? 0 : state.nextPeriodIndex;
    return {
      state: {
        ...state,
        plan: change.plan,
        quantity: change.quantity,
        anchor,
        currentPeriod: billingPeriod(anchor, change.plan.interval, index),
        nextPeriodIndex: index + 1,
        paid: null,
        scheduledChange: null,
        trialEnd: null,
        status: state.status === 'trialing' ? 'incomplete' : state.status,
      },
      anchorReset,
    };
  }
  return {
    state: {
      ...state,
      currentPeriod: billingPeriod(state.anchor, state.plan.interval, state.nextPeriodIndex),
      nextPeriodIndex: state.nextPeriodIndex + 1,
      paid: null,
      trialEnd: null,
      status: state.status === 'trialing' ? 'incomplete' : state.status,
    },
    anchorReset: false,
  };
}

// ---- Plan changes ----

export type PlanChangeKind =
  | 'same'
  | 'upgrade'
  | 'downgrade'
  | 'longer_interval'
  | 'shorter_interval'
  | 'more_seats'
  | 'fewer_seats'
  | 'price_version';

/** What kind of change moving from one plan and quantity to another is, by the rules at the top. */
export function classifyPlanChange(from: { plan: PriceSnapshot; quantity: number }, to: { plan: PriceSnapshot; quantity: number }): PlanChangeKind {
  const fromTier = PLAN_TIERS[from.plan.planId] ?? 0;
  const toTier = PLAN_TIERS[to.plan.planId] ?? 0;
  if (toTier !== fromTier) return toTier > fromTier ? 'upgrade' : 'downgrade';
  const fromMonths = monthsIn(from.plan.interval);
  const toMonths = monthsIn(to.plan.interval);
  if (toMonths !== fromMonths) return toMonths > fromMonths ? 'longer_interval' : 'shorter_interval';
  if (to.quantity !== from.quantity) return to.quantity > from.quantity ? 'more_seats' : 'fewer_seats';
  return to.plan.priceId === from.plan.priceId ? 'same' : 'price_version';
}

const APPLIES_NOW: readonly PlanChangeKind[] = ['upgrade', 'longer_interval', 'more_seats'];

export function changePlan(state: SubscriptionState, request: { at: string; plan: PriceSnapshot; quantity?: number }, kind: 'change_plan' | 'change_quantity' = 'change_plan'): ChangeDecision {
  const to = { plan: request.plan, quantity: request.quantity ?? state.quantity };
  const what = kind === 'change_plan' ? 'its plan' : 'its quantity';
  if (!validInstant(request.at)) return reject(`'${request.at}' is not a valid instant`);
  if (isEnded(state.status)) return reject(`subscription is ${state.status}; reactivate it before changing ${what}`);
  if (state.status === 'paused') return reject(`subscription is paused; resume it before changing ${what}`);
  if (state.status === 'incomplete') return reject(`subscription's first payment is not complete; pay or cancel it before changing ${what}`);
  if (state.status === 'past_due') return reject(`subscription has an overdue invoice; settle it before changing ${what}`);
  if (state.cancelAtPeriodEnd) return reject(`subscription is set to cancel at period end; undo the cancellation before changing ${what}`);
  if (PLAN_TIERS[to.plan.planId] === undefined) return reject(`plan '${to.plan.planId}' is not a subscription plan`);
  if (to.plan.currency !== state.plan.currency) {
    return reject(`a subscription cannot change currency (${state.plan.currency} to ${to.plan.currency}); cancel it and start a new one`);
  }
  if (!Number.isSafeInteger(to.quantity) || to.quantity < 1) return reject('the quantity must be a positive whole number');

  const change = classifyPlanChange(state, to);
  if (change === 'same') {
    return reject(
      kind === 'change_quantity'
        ? `subscription already has a quantity of ${state.quantity}; there is nothing to change`
        : `subscription is already on ${planName(state.plan, state.quantity)}; there is nothing to change`,
    );
  }
  const scheduled = state.scheduledChange;
  if (scheduled && scheduled.plan.priceId === to.plan.priceId && scheduled.quantity === to.quantity) {
    return reject(`a change to ${planName(to.plan, to.quantity)} is already scheduled for ${isoDate(scheduled.effectiveAt)}`);
  }
  const summaryTo = planName(to.plan, to.quantity);

  if (state.status === 'trialing') {
    // Nothing was paid, so nothing is prorated; the trial keeps its end date.
    return accept(kind, {
      timing: 'now',
      effectiveAt: request.at,
      state: { ...state, plan: to.plan, quantity: to.quantity, scheduledChange: null },
      summary: `Switched to ${summaryTo} during the trial; the first charge is on ${isoDate(state.anchor)}.`,
    });
  }

  const period = state.currentPeriod;
  if (!period || !isWithin(period, request.at)) return reject('the change must happen within the current billing period');

  if (!APPLIES_NOW.includes(change)) {
    return accept(kind, {
      timing: 'period_end',
      effectiveAt: period.end,
      state: { ...state, scheduledChange: { effectiveAt: period.end, plan: to.plan, quantity: to.quantity } },
      summary: `Changes to ${summaryTo} on ${isoDate(period.end)}, at the end of the current period.`,
    });
  }

  const proration = prorateChange({
    from: state.plan,
    fromQuantity: state.quantity,
    to: to.plan,
    toQuantity: to.quantity,
    period,
    changeAt: request.at,
    paid: state.paid,
  });
  const restarts = proration.newAnchor !== null;
  const next: SubscriptionState = {
    ...state,
    plan: to.plan,
    quantity: to.quantity,
    anchor: proration.newAnchor ?? state.anchor,
    currentPeriod: restarts ? billingPeriod(request.at, to.plan.interval, 0) : period,
    nextPeriodIndex: restarts ? 1 : state.nextPeriodIndex,
    paid: { amount: proration.charge, start: request.at, end: proration.newPeriod.end },
    scheduledChange: null,
  };
  return accept(kind, {
    timing: 'now',
    effectiveAt: request.at,
    state: next,
    invoiceLines: proration.lines,
    anchorReset: restarts,
    summary: restarts
      ? `Switched to ${summaryTo} now; a new ${to.plan.interval} starts today and unused time is credited.`
      : `Switched to ${summaryTo} now; the rest of the period is prorated by day.`,
  });
}

export function changeQuantity(state: SubscriptionState, request: { at: string; quantity: number }): ChangeDecision {
  return changePlan(state, { at: request.at, plan: state.plan, quantity: request.quantity }, 'change_quantity');
}

// ---- Pause and resume ----

export function pauseSubscription(state: SubscriptionState, request: { at: string; anchor: PauseAnchor; resumesAt?: string | null }): ChangeDecision {
  if (!validInstant(request.at)) return reject(`'${request.at}' is not a valid instant`);
  if (state.status === 'paused') return reject('subscription is already paused');
  if (isEnded(state.status)) return reject(`subscription is ${state.status}; there is nothing to pause`);
  if (state.status === 'trialing') return reject('a subscription cannot be paused during its free trial; cancel it instead');
  if (state.status === 'incomplete') return reject("subscription's first payment is not complete; it can be paused once it is active");
  if (state.status === 'past_due') return reject('subscription has an overdue invoice; settle it before pausing');
  if (state.cancelAtPeriodEnd) return reject('subscription is set to cancel at period end; undo the cancellation before pausing');
  const resumesAt = request.resumesAt ?? null;
  if (resumesAt !== null && !(Date.parse(resumesAt) > Date.parse(request.at))) return reject('the resume date must be after the pause starts');
  const period = state.currentPeriod;
  if (!period || !isWithin(period, request.at)) return reject('the pause must start within the current billing period');

  const pause: PauseState = { pausedAt: request.at, anchor: request.anchor, resumesAt };
  if (request.anchor === 'shift') {
    // No money moves: the unused days wait for the resume.
    return accept('pause', {
      timing: 'now',
      effectiveAt: request.at,
      state: { ...state, status: 'paused', pause },
      summary: 'Paused now; the unused days of this period are kept and billing moves later by the paused days.',
    });
  }
  // Keep: the unused days are credited now, and billing resumes on the original dates.
  const { credit, split } = unusedTimeCredit(state.paid, request.at, state.plan.currency);
  const lines = credit !== 0 && state.paid ? [creditLine(state.plan, state.quantity, credit, split, request.at, state.paid.end)] : [];
  const paid = state.paid ? { amount: state.paid.amount - credit, start: state.paid.start, end: request.at } : null;
  return accept('pause', {
    timing: 'now',
    effectiveAt: request.at,
    state: { ...state, status: 'paused', pause, paid },
    invoiceLines: lines,
    summary: 'Paused now; the unused days of this period are credited and billing resumes on the usual dates.',
  });
}

export function resumeSubscription(state: SubscriptionState, request: { at: string }): ChangeDecision {
  if (!validInstant(request.at)) return reject(`'${request.at}' is not a valid instant`);
  if (state.status !== 'paused' || !state.pause) {
    return reject(`subscription is ${state.status}, not paused; only a paused subscription can be resumed`);
  }
  const { pause } = state;
  if (Date.parse(request.at) < Date.parse(pause.pausedAt)) return reject('a subscription cannot resume before it was paused');
  const resumed = { ...state, status: 'active' as const, pause: null };

  if (pause.anchor === 'shift') {
    // Every date moves later by the whole calendar days paused, so the customer gets the same
    // number of unused days after resuming as they had when pausing.
    const d = Math.max(0, daysBetween(pause.pausedAt, request.at));
    const period = state.currentPeriod;
    if (!period) return reject('subscription has no period to resume');
    const shift = (iso: string) => addDays(iso, d);
    const earliest = (iso: string) => (Date.parse(request.at) < Date.parse(iso) ? request.at : iso);
    const newEnd = shift(period.end);
    const paid = state.paid ? { amount: state.paid.amount, start: earliest(shift(state.paid.start)), end: shift(state.paid.end) } : null;
    return accept('resume', {
      timing: 'now',
      effectiveAt: request.at,
      state: {
        ...resumed,
        anchor: newEnd,
        nextPeriodIndex: 0,
        currentPeriod: { index: -1, start: earliest(shift(period.start)), end: newEnd },
        paid,
      },
      anchorReset: true,
      summary: `Resumed; the next charge moves ${d} days later, to ${isoDate(newEnd)}.`,
    });
  }

  // Keep: the rest of the period the resume falls in is charged by day at the current plan.
  // That is still the paused period (possibly a stub before a new anchor) when resuming inside it.
  let period: BillingPeriod;
  let nextPeriodIndex: number;
  if (state.currentPeriod && isWithin(state.currentPeriod, request.at)) {
    period = state.currentPeriod;
    nextPeriodIndex = state.nextPeriodIndex;
  } else {
    const index = periodIndexAt(state.anchor, state.plan.interval, request.at);
    period = billingPeriod(state.anchor, state.plan.interval, index);
    nextPeriodIndex = index + 1;
  }
  const split = splitPeriodDays(period, request.at);
  const charge = remainingTimeCharge(state.plan, state.quantity, split);
  return accept('resume', {
    timing: 'now',
    effectiveAt: request.at,
    state: { ...resumed, currentPeriod: period, nextPeriodIndex, paid: { amount: charge, start: request.at, end: period.end } },
    invoiceLines: charge === 0 ? [] : [remainingTimeLine(state.plan, state.quantity, charge, split, request.at, period.end)],
    summary: `Resumed; the rest of this period is charged by day and the next charge is on ${isoDate(period.end)}.`,
  });
}

// ---- Cancel, undo, reactivate ----

/**
 * Cancel now ends access immediately; nothing is refunded unless refundUnusedTime asks for a
 * credit of the unused paid days. Cancel at period end keeps access until the period (or
 * trial) ends. Either way a scheduled plan change is dropped.
 */
export function cancelSubscription(state: SubscriptionState, request: { at: string; when: 'now' | 'period_end'; refundUnusedTime?: boolean }): ChangeDecision {
  if (!validInstant(request.at)) return reject(`'${request.at}' is not a valid instant`);
  const rejection = cancelRejection(state.status, request.when, state.cancelAtPeriodEnd);
  if (rejection) return reject(rejection);

  if (request.when === 'now') {
    let lines: InvoiceLine[] = [];
    if (request.refundUnusedTime && state.paid) {
      // A subscription paused with a shifted anchor still has the days unused at its pause.
      const from = state.pause?.anchor === 'shift' ? state.pause.pausedAt : request.at;
      const { credit, split } = unusedTimeCredit(state.paid, from, state.plan.currency);
      if (credit !== 0) lines = [creditLine(state.plan, state.quantity, credit, split, from, state.paid.end)];
    }
    return accept('cancel', {
      timing: 'now',
      effectiveAt: request.at,
      state: { ...state, status: 'canceled', canceledAt: request.at, cancelAtPeriodEnd: false, scheduledChange: null, pause: null },
      invoiceLines: lines,
      summary: lines.length ? 'Canceled now; the unused time is credited.' : 'Canceled now; access ends immediately.',
    });
  }

  if (state.status === 'paused') return reject('a paused subscription can only be canceled now');
  if (state.status === 'incomplete') return reject("subscription's first payment is not complete; cancel it now instead");
  const endsAt = state.status === 'trialing' ? state.trialEnd : state.currentPeriod?.end;
  if (!endsAt) return reject('subscription has no current period to cancel at the end of');
  return accept('cancel', {
    timing: 'period_end',
    effectiveAt: endsAt,
    state: { ...state, cancelAtPeriodEnd: true, scheduledChange: null },
    summary: `Cancels on ${isoDate(endsAt)}; access continues until then.`,
  });
}

export function undoCancel(state: SubscriptionState, request: { at: string }): ChangeDecision {
  if (isEnded(state.status)) return reject(`subscription is already ${state.status}; reactivate it instead`);
  if (!state.cancelAtPeriodEnd) return reject('there is no pending cancellation to undo');
  return accept('undo_cancel', {
    timing: 'now',
    effectiveAt: request.at,
    state: { ...state, cancelAtPeriodEnd: false },
    summary: 'The pending cancellation is withdrawn; the subscription renews as usual.',
  });
}

/**
 * A canceled (or unpaid) subscription starts again now: a new period and anchor from today,
 * billed in full, incomplete until that invoice is paid. No new trial. The plan defaults to the
 * price the subscriber had; passing a current catalog price is the caller's decision.
 */
export function reactivateSubscription(state: SubscriptionState, request: { at: string; plan?: PriceSnapshot; quantity?: number }): ChangeDecision {
  if (!validInstant(request.at)) return reject(`'${request.at}' is not a valid instant`);
  if (!isEnded(state.status)) {
    return reject(
      state.cancelAtPeriodEnd
        ? 'subscription is set to cancel at period end but is still running; undo the cancellation instead'
        : `subscription is ${state.status}; only a canceled or unpaid subscription can be reactivated`,
    );
  }
  const plan = request.plan ?? state.plan;
  const quantity = request.quantity ?? state.quantity;
  if (!Number.isSafeInteger(quantity) || quantity < 1) return reject('the quantity must be a positive whole number');
  const period = billingPeriod(request.at, plan.interval, 0);
  return accept('reactivate', {
    timing: 'now',
    effectiveAt: request.at,
    state: {
      status: 'incomplete',
      plan,
      quantity,
      anchor: request.at,
      nextPeriodIndex: 1,
      currentPeriod: period,
      paid: null,
      trialEnd: null,
      cancelAtPeriodEnd: false,
      canceledAt: null,
      scheduledChange: null,
      pause: null,
    },
    invoiceLines: [
      {
        description: priceLabel(plan),
        periodStart: period.start,
        periodEnd: period.end,
        quantity,
        unitAmount: plan.unitAmount,
        amount: lineAmount(quantity, plan.unitAmount),
      },
    ],
    anchorReset: true,
    summary: `Reactivated on ${planName(plan, quantity)}; a new period starts today.`,
  });
}

// ---- Billing-cycle anchor ----

/**
 * Moves the billing date: unused paid days are credited, the stub up to the new anchor is
 * charged by day (see prorateAnchorChange), and full periods follow from the new anchor.
 */
export function changeAnchor(state: SubscriptionState, request: { at: string; newAnchor: string }): ChangeDecision {
  if (!validInstant(request.at) || !validInstant(request.newAnchor)) return reject('the change time and the new anchor must be valid instants');
  if (state.status === 'trialing') return reject('the first billing date follows the trial; change the anchor after the trial ends');
  if (state.status !== 'active') return reject(`subscription is ${state.status}; only an active subscription can move its billing date`);
  if (state.cancelAtPeriodEnd) return reject('subscription is set to cancel at period end; there is no billing date to move');
  const period = state.currentPeriod;
  if (!period || !isWithin(period, request.at)) return reject('the change must happen within the current billing period');
  if (Date.parse(request.newAnchor) <= Date.parse(request.at)) return reject('the new billing date must be in the future');
  const latest = addMonthsClamped(new Date(request.at), monthsIn(state.plan.interval)).toISOString();
  if (Date.parse(request.newAnchor) > Date.parse(latest)) {
    return reject(`the new billing date must be within one ${state.plan.interval} of today (by ${isoDate(latest)})`);
  }
  if (request.newAnchor === period.end) return reject(`subscription already renews on ${isoDate(period.end)}`);

  const proration = prorateAnchorChange({
    price: state.plan,
    quantity: state.quantity,
    period,
    changeAt: request.at,
    newAnchor: request.newAnchor,
    paid: state.paid,
  });
  // The stub is measured against the full period that ends at the new anchor, so later
  // prorations inside it charge by the same day rate.
  const fullStart = addMonthsClamped(new Date(request.newAnchor), -monthsIn(state.plan.interval)).toISOString();
  const stubStart = Date.parse(fullStart) <= Date.parse(request.at) ? fullStart : request.at;
  return accept('change_anchor', {
    timing: 'now',
    effectiveAt: request.at,
    state: {
      ...state,
      anchor: request.newAnchor,
      nextPeriodIndex: 0,
      currentPeriod: { index: -1, start: stubStart, end: request.newAnchor },
      paid: { amount: proration.charge, start: request.at, end: request.newAnchor },
      scheduledChange: null,
    },
    invoiceLines: proration.lines,
    anchorReset: true,
    summary: `Billing moves to ${isoDate(request.newAnchor)}; the days until then are prorated.`,
  });
}

// ---- One entry point ----

export function decideChange(state: SubscriptionState, request: ChangeRequest): ChangeDecision {
  switch (request.kind) {
    case 'pause':
      return pauseSubscription(state, request);
    case 'resume':
      return resumeSubscription(state, request);
    case 'cancel':
      return cancelSubscription(state, request);
    case 'undo_cancel':
      return undoCancel(state, request);
    case 'reactivate':
      return reactivateSubscription(state, request);
    case 'change_plan':
      return changePlan(state, request);
    case 'change_quantity':
      return changeQuantity(state, request);
    case 'change_anchor':
      return changeAnchor(state, request);
  }
}

/** A subscription paid in full for its whole current period, for tests and migrations. */
export function activeState(args: { plan: PriceSnapshot; quantity?: number; anchor: string; periodIndex?: number }): SubscriptionState {
  const quantity = args.quantity ?? 1;
  const index = args.periodIndex ?? 0;
  const period = billingPeriod(args.anchor, args.plan.interval, index);
  return {
    status: 'active',
    plan: args.plan,
    quantity,
    anchor: args.anchor,
    nextPeriodIndex: index + 1,
    currentPeriod: period,
    paid: fullPeriodCoverage(args.plan, quantity, period),
    trialEnd: null,
    cancelAtPeriodEnd: false,
    canceledAt: null,
    scheduledChange: null,
    pause: null,
  };
}
