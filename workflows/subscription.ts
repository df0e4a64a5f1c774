// One subscription, for its whole life, as the business runs it:
//   trial (if the plan has one) -> bill the period -> collect the payment -> sleep until the
//   next period -> renew, with every lifecycle change (pause, resume, plan and quantity changes
//   with proration, billing-date moves, cancel, undo, reactivate, coupons) arriving as a
//   validated update, and a failed payment handed to dunning: grace period, smart retries chosen
//   by the retry model (an activity), notices through the outbox, and the plan's end action.
//
// Versioning: subscriptions started before this version run subscriptionWorkflowV1 unchanged
// (patched() is false when their history replays); new ones, and old ones continuing as new,
// run this code. The decisions themselves are pure domain functions (domain/lifecycle,
// domain/dunning, domain/subscription-invoice); this file only sequences them.
import {
  ActivityFailure,
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { BillingActivities, ChargeInvoiceResult } from '../activities/billing';
import type { SubscriptionActivities } from '../activities/subscriptions';
import { billingPeriod, DAY_MS, periodStart } from '../domain/calendar';
import type { PriceSnapshot } from '../domain/catalog';
import { checkCouponRedemption, type Coupon } from '../domain/discounts';
import {
  dunningPolicyFor,
  type ChargeTrigger,
  type DunningEvent,
  type DunningPolicy,
  type DunningState,
  type DunningStep,
  type EndAction,
} from '../domain/dunning';
import type { GatewayEvent } from '../domain/gateway-events';
import type { Invoice, InvoiceLine } from '../domain/invoice';
import {
  decideChange,
  markPeriodPaid,
  startNextPeriod,
  startSubscription,
  type ChangeRequest,
  type SubscriptionState,
} from '../domain/lifecycle';
import { fullPeriodCoverage } from '../domain/proration';
import {
  buildSubscriptionInvoice,
  periodLine,
  subscriptionInvoiceId,
  type RedeemedCoupon,
} from '../domain/subscription-invoice';
import {
  subscriptionAccess,
  withDisputeEvent,
  type DisputeState,
  type LastPayment,
  type StatusChange,
  type SubscriptionStatus,
  type SubscriptionView,
} from '../domain/subscription';
import type { TaxTreatment } from '../domain/tax';
import { CHARGE_ACTIVITY, RECORD_ACTIVITY } from './activity-options';
import { attemptSummary, chargeOutcomeEvent, takeDunningStep, withdrawReminders } from './dunning-step';
import {
  applySubscriptionCoupon,
  cancelSubscription,
  changeSubscription,
  gatewayEventReceived,
  getSubscription,
  paymentMethodUpdated,
  searchAttributes,
  type SubscriptionChange,
  type SubscriptionChangeResult,
} from './messages';
import { subscriptionWorkflowV1, type CarriedStateV1 } from './subscription-v1';

export const LIFECYCLE_AND_DUNNING_PATCH = 'lifecycle-and-dunning';

export interface SubscriptionWorkflowInput {
  readonly subscriptionId: string;
  readonly customerId: string;
  readonly plan: PriceSnapshot;
  readonly paymentMethodToken: string;
  /** Seats or units billed each period (default 1). */
  readonly quantity?: number;
  /** First period start and billing-cycle anchor; defaults to the moment the workflow starts. */
  readonly startAt?: string;
  /** Free days before the first charge (the plan's trial, or 0). */
  readonly trialDays?: number;
  /** A coupon redeemed at signup (already checked by the API). */
  readonly coupon?: Coupon | null;
  /** How the customer's invoices are taxed, fixed at signup from their country and VAT id. */
  readonly tax?: TaxTreatment | null;
  /** Dunning for this subscription; defaults to the plan's policy when the workflow starts. */
  readonly dunningPolicy?: DunningPolicy;
  /** Whether an open payment dispute suspends access (default true). */
  readonly suspendAccessOnDispute?: boolean;
  /** Periods billed per workflow run before continue-as-new keeps the history small. */
  readonly periodsPerRun?: number;
  /**
   * Days a canceled or unpaid subscription stays reactivatable before its workflow completes
   * (default 30). After that a returning customer starts a new subscription.
   */
  readonly reactivationWindowDays?: number;
  /** Present only when continuing as new: everything the next run needs. */
  readonly carried?: CarriedState | CarriedStateV1;
}

interface CarriedState {
  readonly version: 2;
  sub: SubscriptionState;
  /** Anchor resets so far: renewal invoice ids are made distinct per anchor (see subscriptionInvoiceId). */
  epoch: number;
  /** Change invoices issued so far (proration, resume, reactivation), for their ids. */
  changeInvoices: number;
  paymentMethodToken: string;
  gatewayCustomerId: string | null;
  /** Proration lines to bill on the next regular invoice (credits for unused time). */
  pendingLines: InvoiceLine[];
  /** Credit left over from an invoice that came out below zero, already taxed. */
  balance: InvoiceLine[];
  coupon: RedeemedCoupon | null;
  tax: TaxTreatment | null;
  policy: DunningPolicy;
  suspendAccessOnDispute: boolean;
  lastPayment: LastPayment | null;
  statusChanges: number;
  recentStatusHistory: StatusChange[];
  disputes: Record<string, DisputeState>;
  seenEventIds: string[];
  lastGatewayEvent: SubscriptionView['lastGatewayEvent'];
}

/** An invoice to collect now because of a change (proration, resume, reactivation). */
interface QueuedInvoice {
  readonly invoice: Invoice;
  /** What the period's paid coverage should record when it is paid (resume/reactivate). */
  readonly firstPayment: boolean;
}

type Collection = { readonly kind: 'paid' } | { readonly kind: 'ended'; readonly action: EndAction; readonly reason: string } | { readonly kind: 'interrupted' };

const { recordSubscription, recordSubscriptionProgress, ensureGatewayCustomer, issueInvoice, recordExternalPayment } =
  proxyActivities<BillingActivities>(RECORD_ACTIVITY);
const { settleInvoiceWithoutCharge, writeOffInvoice } = proxyActivities<SubscriptionActivities>(RECORD_ACTIVITY);
const { chargeInvoice } = proxyActivities<BillingActivities>(CHARGE_ACTIVITY);

const END_ACTION_STATUS: Readonly<Record<EndAction, SubscriptionStatus>> = { pause: 'paused', cancel: 'canceled', mark_unpaid: 'unpaid' };

const DEFAULT_PERIODS_PER_RUN = 12;
const DEFAULT_REACTIVATION_WINDOW_DAYS = 30;
const SEEN_EVENTS_KEPT = 100;
const STATUS_HISTORY_KEPT = 20;

export async function subscriptionWorkflow(input: SubscriptionWorkflowInput): Promise<SubscriptionView> {
  if (!patched(LIFECYCLE_AND_DUNNING_PATCH)) {
    return subscriptionWorkflowV1(input as Parameters<typeof subscriptionWorkflowV1>[0]);
  }
  return runSubscription(input);
}

async function runSubscription(input: SubscriptionWorkflowInput): Promise<SubscriptionView> {
  const now = () => new Date().toISOString(); // the workflow clock: deterministic on replay
  const s: CarriedState = initialState(input, now());

  /** Bumped by every accepted change, so a sleeping loop wakes and plans again. */
  let changeSeq = 0;
  let paymentMethodChanged = false;
  /** A payment the gateway confirmed asynchronously (webhook) for the invoice being collected. */
  let externalPayment: GatewayEvent | null = null;
  const queue: QueuedInvoice[] = [];
  let dunning: DunningState | null = null;
  let accessRevokedPublished = false;
  /** The first period's charge has been tried (the view's next charge moves on to the renewal). */
  let firstChargeMade = input.carried !== undefined;
  /**
   * True from the start of collecting an invoice until the charge's outcome is in the state
   * (period paid, a dunning step taken, or the end action applied); false while dunning sleeps.
   * Lifecycle updates wait for it: a cancel or plan change that arrives while money is moving
   * applies to what the charge left, never to a state the charge's result would then overwrite.
   */
  let collecting = false;

  const ended = () => s.sub.status === 'canceled' || s.sub.status === 'unpaid';

  /** Dunning still collecting (or just ended); null once nothing is owed. */
  const openDunning = (): DunningState | null => (dunning && dunning.phase !== 'recovered' ? dunning : null);
  const suspendedByDispute = () => s.suspendAccessOnDispute && Object.values(s.disputes).some((d) => d.status === 'open');

  const access = () =>
    subscriptionAccess({
      status: s.sub.status,
      at: now(),
      accessUntil: openDunning()?.accessUntil ?? null,
      suspendedByDispute: suspendedByDispute(),
    });

  const nextChargeAt = (): string | null => {
    if (ended() || s.sub.status === 'paused' || s.sub.cancelAtPeriodEnd) return null;
    // A first period not yet paid is charged at its start.
    if (s.sub.status === 'incomplete' && !s.sub.paid && s.sub.currentPeriod && !firstChargeMade) return s.sub.currentPeriod.start;
    return periodStart(s.sub.anchor, s.sub.plan.interval, s.sub.nextPeriodIndex);
  };

  const view = (): SubscriptionView => {
    const at = nextChargeAt();
    const d = openDunning();
    return {
      subscriptionId: input.subscriptionId,
      customerId: input.customerId,
      status: s.sub.status,
      plan: s.sub.plan,
      quantity: s.sub.quantity,
      anchor: s.sub.anchor,
      currentPeriod: s.sub.currentPeriod,
      trialEnd: s.sub.trialEnd,
      nextCharge: at ? { at, amount: s.sub.plan.unitAmount * s.sub.quantity, currency: s.sub.plan.currency } : null,
      lastPayment: s.lastPayment,
      cancelAtPeriodEnd: s.sub.cancelAtPeriodEnd,
      canceledAt: s.sub.canceledAt,
      pause: s.sub.pause,
      scheduledChange: s.sub.scheduledChange,
      coupon: s.coupon,
      pendingCredit: [...s.pendingLines, ...s.balance].reduce((sum, l) => sum + l.amount, 0),
      statusHistory: s.recentStatusHistory,
      disputes: s.disputes,
      lastGatewayEvent: s.lastGatewayEvent,
      dunning: d
        ? {
            invoiceId: d.invoiceId,
            phase: d.phase,
            firstFailureAt: d.firstFailureAt,
            attempts: d.attempts,
            automaticRetries: d.automaticRetries,
            lastDeclineCode: d.lastDeclineCode,
            lastDeclineClass: d.lastDeclineClass,
            nextAttempt: d.scheduled ? { at: d.scheduled.at, reason: d.scheduled.reason, score: d.scheduled.score } : null,
            accessUntil: d.accessUntil,
            windowEndsAt: d.windowEndsAt,
            endAction: s.policy.endAction,
          }
        : null,
      access: access(),
    };
  };

  let pendingChange: (StatusChange & { seq: number }) | null = null;
  const transition = (to: SubscriptionStatus, cause: string) => {
    const from = s.recentStatusHistory.at(-1)?.to ?? null;
    s.sub = { ...s.sub, status: to };
    if (from === to) return;
    const change = { from, to, at: now(), cause };
    s.statusChanges += 1;
    pendingChange = { ...change, seq: s.statusChanges };
    s.recentStatusHistory = [...s.recentStatusHistory, change].slice(-STATUS_HISTORY_KEPT);
  };

  /** Writes the read model and the search attributes the Web UI filters by. */
  const publish = async () => {
    const next = nextChargeAt();
    upsertSearchAttributes([
      { key: searchAttributes.status, value: s.sub.status },
      { key: searchAttributes.planId, value: s.sub.plan.planId },
      { key: searchAttributes.interval, value: s.sub.plan.interval },
      { key: searchAttributes.nextBillingAt, value: next ? new Date(next) : null },
    ]);
    const change = pendingChange;
    pendingChange = null;
    await recordSubscriptionProgress({
      subscriptionId: input.subscriptionId,
      status: s.sub.status,
      currentPeriodStart: s.sub.currentPeriod?.start ?? null,
      currentPeriodEnd: s.sub.currentPeriod?.end ?? null,
      cancelAtPeriodEnd: s.sub.cancelAtPeriodEnd,
      canceledAt: s.sub.canceledAt,
      change,
      plan: s.sub.plan,
      quantity: s.sub.quantity,
      trialEnd: s.sub.trialEnd,
      pausedAt: s.sub.pause?.pausedAt ?? null,
      accessEndsAt: openDunning()?.accessUntil ?? null,
      accessSuspended: suspendedByDispute(),
    });
  };

  // ---- Messages ----------------------------------------------------------------------------

  const decide = (change: SubscriptionChange) => decideChange(s.sub, { ...change, at: now() } as ChangeRequest);

  const applyChange = (change: SubscriptionChange, reason?: string): SubscriptionChangeResult => {
    const decision = decide(change);
    if (!decision.ok) throw new Error(decision.reason); // the validator refused it already
    const before = s.sub;
    s.sub = decision.state;
    changeSeq += 1;
    if (decision.anchorReset) s.epoch += 1;
    let invoiceId: string | null = null;
    if (decision.invoiceLines.length > 0) {
      if (decision.amountDue > 0 || decision.kind === 'reactivate') {
        s.changeInvoices += 1;
        const invoice = buildSubscriptionInvoice({
          id: subscriptionInvoiceId(input.subscriptionId, { change: s.changeInvoices }),
          subscriptionId: input.subscriptionId,
          customerId: input.customerId,
          currency: s.sub.plan.currency,
          issuedAt: decision.effectiveAt,
          period: s.sub.currentPeriod,
          lines: decision.invoiceLines,
          balance: s.balance,
          coupon: null,
          tax: s.tax,
        });
        s.balance = invoice.carryOver ? [invoice.carryOver] : [];
        queue.push({ invoice: invoice.invoice, firstPayment: decision.kind === 'reactivate' });
        invoiceId = invoice.invoice.id;
      } else {
        // A net credit waits for the next invoice; it is never paid out to the card by itself.
        s.pendingLines = [...s.pendingLines, ...decision.invoiceLines];
      }
    }
    if (decision.state.status !== before.status) transition(decision.state.status, reason ? `${decision.summary} Reason: ${reason}` : decision.summary);
    return {
      kind: decision.kind,
      timing: decision.timing,
      effectiveAt: decision.effectiveAt,
      summary: decision.summary,
      amountDue: decision.amountDue,
      invoiceId,
      subscription: view(),
    };
  };

  const validateChange = (change: SubscriptionChange) => {
    const decision = decide(change);
    if (!decision.ok) {
      log.info('change refused', { kind: change.kind, reason: decision.reason });
      throw new Error(decision.reason);
    }
    if (dunning && dunning.phase !== 'recovered' && dunning.phase !== 'ended' && change.kind !== 'cancel') {
      throw new Error('a payment is being recovered; update the payment method or cancel');
    }
    if (queue.length > 0 && change.kind !== 'cancel') throw new Error('an earlier change is still being billed; try again in a moment');
  };

  /** Applies a validated change once no charge is in flight; refuses it if the charge's outcome made it invalid. */
  const applyWhenSettled = async (change: SubscriptionChange, reason?: string): Promise<SubscriptionChangeResult> => {
    // Histories from before this rule applied the change at once; patched() keeps them replaying.
    if (collecting && patched('changes-wait-for-charge')) {
      await condition(() => !collecting);
      try {
        validateChange(change);
      } catch (error) {
        throw ApplicationFailure.nonRetryable((error as Error).message, 'ChangeRefused');
      }
    }
    return applyChange(change, reason);
  };

  setHandler(getSubscription, view);
  setHandler(changeSubscription, (change) => applyWhenSettled(change), { validator: validateChange });
  setHandler(cancelSubscription, async ({ when, reason }) => (await applyWhenSettled({ kind: 'cancel', when }, reason)).subscription, {
    validator: ({ when }) => validateChange({ kind: 'cancel', when }),
  });
  setHandler(
    applySubscriptionCoupon,
    ({ coupon }) => {
      s.coupon = { coupon, periodsBilled: 0 };
      return view();
    },
    {
      validator: ({ coupon }) => {
        if (ended()) throw new Error(`subscription is ${s.sub.status}; a coupon cannot be applied`);
        if (s.coupon) throw new Error(`subscription already has coupon ${s.coupon.coupon.id}; one coupon per subscription`);
        const check = checkCouponRedemption(coupon, { at: now(), currency: s.sub.plan.currency, productIds: [s.sub.plan.planId], couponRedemptions: 0 });
        if (!check.ok) throw new Error(check.reason);
      },
    },
  );
  setHandler(paymentMethodUpdated, ({ token }) => {
    s.paymentMethodToken = token;
    paymentMethodChanged = true;
  });
  setHandler(gatewayEventReceived, (event) => {
    // Webhooks are de-duplicated at the API; this guards replays and redeliveries after that.
    if (s.seenEventIds.includes(event.eventId)) return;
    s.seenEventIds = [...s.seenEventIds, event.eventId].slice(-SEEN_EVENTS_KEPT);
    s.lastGatewayEvent = { eventId: event.eventId, kind: event.kind, occurredAt: event.occurredAt };
    switch (event.kind) {
      case 'payment_method_updated':
        if (event.token && event.token !== s.paymentMethodToken) {
          s.paymentMethodToken = event.token;
          paymentMethodChanged = true;
        }
        break;
      case 'dispute_opened':
      case 'dispute_closed': {
        const disputes = withDisputeEvent(s.disputes, event);
        if (disputes === s.disputes) break; // an older fact delivered late
        s.disputes = { ...disputes };
        changeSeq += 1; // access may have changed: publish it
        break;
      }
      case 'payment_succeeded':
        externalPayment = event;
        break;
      default:
        break;
    }
  });

  // ---- The life of the subscription ----------------------------------------------------------

  if (!input.carried) {
    await recordSubscription({
      subscriptionId: input.subscriptionId,
      customerId: input.customerId,
      plan: input.plan,
      status: s.sub.status,
      anchor: s.sub.anchor,
      paymentMethodToken: input.paymentMethodToken,
    });
    transition(s.sub.status, s.sub.status === 'trialing' ? `free trial until ${s.sub.trialEnd}` : 'subscription created');
    s.gatewayCustomerId = await ensureGatewayCustomer(input.customerId);
    await publish();
    if (s.sub.status === 'incomplete') {
      // The first period starts at the chosen anchor (now, or a later start date).
      await sleepUntil(s.sub.currentPeriod!.start, ended);
      if (!ended()) await billCurrentPeriod();
    }
  }

  const periodsPerRun = input.periodsPerRun ?? DEFAULT_PERIODS_PER_RUN;
  const reactivationWindowMs = (input.reactivationWindowDays ?? DEFAULT_REACTIVATION_WINDOW_DAYS) * DAY_MS;
  let periodsThisRun = 0;
  let publishedSeq = changeSeq;

  for (;;) {
  while (!ended()) {
    if (publishedSeq !== changeSeq) {
      publishedSeq = changeSeq;
      await publish();
    }
    const queued = queue.shift();
    if (queued) {
      await collectChangeInvoice(queued);
      continue;
    }
    const wakeAt = s.sub.status === 'paused' ? s.sub.pause?.resumesAt ?? null : periodStart(s.sub.anchor, s.sub.plan.interval, s.sub.nextPeriodIndex);
    const seen = changeSeq;
    const interrupted = await sleepUntil(wakeAt, () => changeSeq !== seen || queue.length > 0 || ended());
    if (interrupted || ended()) continue;

    if (s.sub.status === 'paused') {
      // The pause's own end date: resume as if the customer asked.
      const decision = decide({ kind: 'resume' });
      if (decision.ok) applyChange({ kind: 'resume' });
      continue;
    }
    await renew();
    if (ended()) break;

    periodsThisRun += 1;
    if (queue.length === 0 && (periodsThisRun >= periodsPerRun || workflowInfo().continueAsNewSuggested)) {
      await condition(allHandlersFinished);
      if (queue.length === 0 && changeSeq === publishedSeq) {
        return continueAsNew<typeof subscriptionWorkflow>({ ...input, carried: s });
      }
    }
  }

  await publish();
  // Ended: a reactivation (an update) within the window picks the subscription up again.
  if (reactivationWindowMs <= 0 || !(await condition(() => !ended(), reactivationWindowMs))) break;
  }
  await condition(allHandlersFinished);
  return view();

  // ---- Steps -------------------------------------------------------------------------------

  /** The first period of a subscription without a trial (or a reactivated one). */
  async function billCurrentPeriod(): Promise<void> {
    const period = s.sub.currentPeriod!;
    const built = buildPeriodInvoice(period);
    const outcome = await collect(built, { firstPayment: true });
    firstChargeMade = true;
    await settle(built, outcome);
  }

  /** A period boundary: a scheduled change or a pending cancellation applies, then the new period is billed. */
  async function renew(): Promise<void> {
    const hadTrial = s.sub.status === 'trialing';
    const { state: next, anchorReset } = startNextPeriod(s.sub);
    if (next.status === 'canceled') {
      s.sub = next;
      transition('canceled', 'canceled at period end');
      return;
    }
    const planChanged = next.plan.priceId !== s.sub.plan.priceId || next.quantity !== s.sub.quantity;
    s.sub = next;
    if (anchorReset) s.epoch += 1;
    if (planChanged) changeSeq += 1;
    const built = buildPeriodInvoice(s.sub.currentPeriod!);
    await settle(built, await collect(built, { firstPayment: s.sub.status === 'incomplete' && !hadTrial }));
  }

  function buildPeriodInvoice(period: NonNullable<SubscriptionState['currentPeriod']>): Invoice {
    const built = buildSubscriptionInvoice({
      id: subscriptionInvoiceId(input.subscriptionId, { epoch: s.epoch, periodIndex: period.index }),
      subscriptionId: input.subscriptionId,
      customerId: input.customerId,
      currency: s.sub.plan.currency,
      issuedAt: period.start,
      period,
      lines: [periodLine(s.sub.plan, s.sub.quantity, period), ...s.pendingLines],
      balance: s.balance,
      coupon: s.coupon,
      tax: s.tax,
    });
    s.pendingLines = [];
    s.balance = built.carryOver ? [built.carryOver] : [];
    if (s.coupon) s.coupon = { ...s.coupon, periodsBilled: s.coupon.periodsBilled + 1 };
    return built.invoice;
  }

  /** After collecting a period's invoice: the period is paid, or dunning's end action applies. */
  async function settle(invoice: Invoice, outcome: Collection): Promise<void> {
    try {
      if (outcome.kind === 'interrupted') return await abandonCollection(invoice);
      if (outcome.kind === 'paid') {
        // What the period cost before tax and credits: what a later proration gives back.
        const periodLineAfterDiscount = invoice.lines[0]!.amount - (invoice.lines[0]!.discountAmount ?? 0);
        s.sub = markPeriodPaid(s.sub, periodLineAfterDiscount);
        transition('active', s.sub.currentPeriod?.index === 0 && s.epoch === 0 ? 'first payment succeeded' : 'renewal paid');
        await publish();
        return;
      }
      await applyEndAction(invoice, outcome);
    } finally {
      collecting = false;
    }
  }

  async function collectChangeInvoice(queued: QueuedInvoice): Promise<void> {
    const outcome = await collect(queued.invoice, { firstPayment: queued.firstPayment });
    try {
      if (outcome.kind === 'paid') {
        if (queued.firstPayment) {
          const period = s.sub.currentPeriod!;
          s.sub = { ...s.sub, status: 'active', paid: fullPeriodCoverage(s.sub.plan, s.sub.quantity, period) };
          transition('active', 'reactivation paid');
        }
        await publish();
        return;
      }
      if (outcome.kind === 'ended') await applyEndAction(queued.invoice, outcome);
      if (outcome.kind === 'interrupted') await abandonCollection(queued.invoice);
    } finally {
      collecting = false;
    }
  }

  /**
   * Canceled while a declined invoice was being recovered: no reminder may reach the customer
   * after that, and nobody collects what is owed any more, so it is written off (as at the end
   * of dunning). Histories from before this rule left both as they were.
   */
  async function abandonCollection(invoice: Invoice): Promise<void> {
    if (!patched('cancel-ends-collection')) return;
    dunning = null;
    await withdrawReminders(invoice.id);
    await writeOffInvoice({ invoiceId: invoice.id, currency: invoice.currency, at: now(), reason: 'canceled while the payment was being recovered' });
  }

  async function applyEndAction(invoice: Invoice, outcome: Extract<Collection, { kind: 'ended' }>): Promise<void> {
    const at = now();
    await writeOffInvoice({ invoiceId: invoice.id, currency: invoice.currency, at, reason: outcome.reason });
    // A first payment that never completed was never served: there is nothing to pause or keep.
    const neverStarted = s.sub.status === 'incomplete';
    const status = neverStarted ? 'canceled' : END_ACTION_STATUS[outcome.action];
    s.sub = {
      ...s.sub,
      paid: null,
      scheduledChange: null,
      cancelAtPeriodEnd: false,
      ...(status === 'paused' ? { pause: { pausedAt: at, anchor: 'keep' as const, resumesAt: null } } : { canceledAt: at }),
    };
    transition(status, neverStarted ? `first payment never completed: ${outcome.reason}` : outcome.reason);
    dunning = null;
    await publish();
  }

  /**
   * Charges an invoice; after a decline, runs dunning until it is paid or dunning ends.
   * Interrupted when the subscription is canceled meanwhile.
   */
  async function collect(invoice: Invoice, opts: { firstPayment: boolean }): Promise<Collection> {
    collecting = true; // the caller's settle() clears it once the outcome is in the state
    await issueInvoice(invoice);
    if (invoice.total <= 0) {
      await settleInvoiceWithoutCharge({ invoiceId: invoice.id, at: now() });
      return { kind: 'paid' };
    }
    dunning = null;
    externalPayment = null;
    accessRevokedPublished = false;
    let attempt = 0;
    let trigger: ChargeTrigger = 'initial';
    let retryReason: string | null = null;
    for (;;) {
      attempt += 1;
      paymentMethodChanged = false;
      const attemptedAt = now();
      const retryNumber = ((dunning as DunningState | null)?.automaticRetries ?? 0) + (trigger === 'automatic' ? 1 : 0);
      const result = await attemptCharge(invoice, { attempt, attemptedAt, trigger, retryNumber, retryReason });
      if (result.outcome === 'succeeded' && result.settledBy === 'credit') {
        // Credit notes took the whole invoice off while it was being collected: nothing was
        // charged, nothing is owed, and no reminder may still go out.
        if (dunning !== null) {
          await withdrawReminders(invoice.id);
          dunning = null;
        }
        return { kind: 'paid' };
      }
      s.lastPayment = attemptSummary(invoice, result, attemptedAt);
      if (result.outcome === 'succeeded' && dunning === null) return { kind: 'paid' };
      const event = chargeOutcomeEvent(invoice.id, result, attemptedAt, trigger);
      let step = await advanceDunning(invoice, event, opts);
      // Wait for what the step says, until it says "charge now" or dunning is over.
      for (;;) {
        if (step.kind === 'recovered') {
          dunning = null;
          await publish();
          return { kind: 'paid' };
        }
        if (step.kind === 'end_with_action') return { kind: 'ended', action: step.action, reason: step.reason };
        const until = step.kind === 'retry_at' ? step.at : step.until;
        collecting = false; // changes may apply while dunning waits
        await sleepWithGrace(until, () => ended() || paymentMethodChanged || externalPayment !== null);
        collecting = true;
        if (ended()) return { kind: 'interrupted' };
        const paidElsewhere = takeExternalPayment(invoice);
        if (paidElsewhere) {
          await recordExternalPayment(paidElsewhere);
          step = await advanceDunning(invoice, { kind: 'charge_succeeded', invoiceId: invoice.id, at: paidElsewhere.receivedAt, trigger: 'automatic' }, opts);
          continue;
        }
        if (paymentMethodChanged) {
          paymentMethodChanged = false;
          step = await advanceDunning(invoice, { kind: 'payment_method_updated', at: now() }, opts);
        } else if (step.kind === 'ask_for_new_method') {
          step = await advanceDunning(invoice, { kind: 'deadline_reached', at: now() }, opts);
          continue;
        }
        if (step.kind === 'retry_at' && Date.parse(step.at) <= Date.parse(now())) {
          trigger = step.trigger;
          retryReason = step.reason;
          break; // charge again
        }
      }
    }
  }

  /** Feeds one outcome to dunning (asking the retry model when it needs a time), sends its notices. */
  async function advanceDunning(invoice: Invoice, event: DunningEvent, opts: { firstPayment: boolean }): Promise<DunningStep> {
    const opened = dunning === null;
    const t = await takeDunningStep(
      {
        policy: s.policy,
        invoice,
        customerId: input.customerId,
        gateway: s.lastPayment?.gateway ?? 'stripe',
        paymentMethodToken: s.paymentMethodToken,
        productName: s.sub.plan.productName,
        mentionsAccess: true,
        onState: (state) => {
          dunning = state;
        },
      },
      dunning,
      event,
    );
    if (opened && !opts.firstPayment && event.kind === 'charge_failed') {
      transition('past_due', `payment declined (${event.declineCode}); ${t.step.reason}`);
    }
    await publish();
    return t.step;
  }

  /** Sleeps until `until` or `wake`; publishes the loss of access when the grace period ends on the way. */
  async function sleepWithGrace(until: string, wake: () => boolean): Promise<void> {
    const graceEnd = dunning?.accessUntil;
    if (graceEnd && !accessRevokedPublished && Date.parse(graceEnd) < Date.parse(until) && Date.parse(graceEnd) > Date.parse(now())) {
      if (!(await sleepUntil(graceEnd, wake))) {
        accessRevokedPublished = true;
        await publish();
      } else return;
    }
    await sleepUntil(until, wake);
  }

  function takeExternalPayment(invoice: Invoice) {
    const confirmed = externalPayment;
    externalPayment = null;
    if (!confirmed || confirmed.invoiceId !== invoice.id || !confirmed.paymentReference) return null;
    s.lastPayment = { ...s.lastPayment!, outcome: 'succeeded', gateway: confirmed.gateway, declineCode: null, at: confirmed.occurredAt };
    // The gateway took the money outside our charge call (e.g. after 3-D Secure).
    return {
      invoiceId: invoice.id,
      amount: invoice.total,
      currency: invoice.currency,
      gateway: confirmed.gateway,
      reference: confirmed.paymentReference,
      receivedAt: confirmed.occurredAt,
    };
  }

  async function attemptCharge(
    invoice: Invoice,
    a: { attempt: number; attemptedAt: string; trigger: ChargeTrigger; retryNumber: number; retryReason: string | null },
  ): Promise<ChargeInvoiceResult> {
    try {
      return await chargeInvoice({
        invoiceId: invoice.id,
        customerId: input.customerId,
        subscriptionId: input.subscriptionId,
        attempt: a.attempt,
        amount: invoice.total,
        currency: invoice.currency,
        paymentMethodToken: s.paymentMethodToken,
        gatewayCustomerId: s.gatewayCustomerId,
        description: invoice.lines[0]?.description ?? 'Subscription',
        attemptedAt: a.attemptedAt,
        trigger: a.trigger,
        retryNumber: a.retryNumber,
        retryReason: a.retryReason,
      });
    } catch (error) {
      // The gateway stayed unreachable through every retry of this attempt: a temporary
      // failure for dunning to classify and retry.
      if (error instanceof ActivityFailure) {
        return { outcome: 'declined', gateway: 'stripe', declineCode: 'gateway_unavailable', message: error.message };
      }
      throw error;
    }
  }
}

function initialState(input: SubscriptionWorkflowInput, now: string): CarriedState {
  const carried = input.carried;
  if (carried && 'version' in carried && carried.version === 2) return carried;
  const policy = input.dunningPolicy ?? dunningPolicyFor(input.plan.planId);
  const common = {
    version: 2 as const,
    epoch: 0,
    changeInvoices: 0,
    pendingLines: [],
    balance: [],
    coupon: input.coupon ? { coupon: input.coupon, periodsBilled: 0 } : null,
    tax: input.tax ?? null,
    policy,
    suspendAccessOnDispute: input.suspendAccessOnDispute ?? true,
  };
  if (carried) return { ...common, ...fromV1(input, carried as CarriedStateV1) };
  const quantity = input.quantity ?? 1;
  return {
    ...common,
    sub: startSubscription({ plan: input.plan, quantity, at: input.startAt ?? now, trialDays: input.trialDays ?? 0 }),
    paymentMethodToken: input.paymentMethodToken,
    gatewayCustomerId: null,
    lastPayment: null,
    statusChanges: 0,
    recentStatusHistory: [],
    disputes: {},
    seenEventIds: [],
    lastGatewayEvent: null,
  };
}

/** A first-version run continuing as new: the same subscription, paid through its current period. */
function fromV1(input: SubscriptionWorkflowInput, c: CarriedStateV1) {
  const quantity = input.quantity ?? 1;
  const period = c.currentPeriod ?? billingPeriod(c.anchor, input.plan.interval, Math.max(0, c.nextPeriodIndex - 1));
  return {
    sub: {
      status: c.status,
      plan: input.plan,
      quantity,
      anchor: c.anchor,
      nextPeriodIndex: c.nextPeriodIndex,
      currentPeriod: c.currentPeriod,
      paid: c.currentPeriod ? fullPeriodCoverage(input.plan, quantity, period) : null,
      trialEnd: null,
      cancelAtPeriodEnd: c.cancelAtPeriodEnd,
      canceledAt: c.canceledAt,
      scheduledChange: null,
      pause: null,
    } satisfies SubscriptionState,
    paymentMethodToken: c.paymentMethodToken,
    gatewayCustomerId: c.gatewayCustomerId,
    lastPayment: c.lastPayment,
    statusChanges: c.statusChanges,
    recentStatusHistory: [...c.recentStatusHistory],
    disputes: { ...(c.disputes ?? {}) },
    seenEventIds: [...(c.seenEventIds ?? [])],
    lastGatewayEvent: c.lastGatewayEvent ?? null,
  };
}

/** Sleeps on the workflow clock until `instant` (forever when null), or until `wake`; true when woken. */
async function sleepUntil(instant: string | null, wake: () => boolean): Promise<boolean> {
  if (instant === null) {
    await condition(wake);
    return true;
  }
  const ms = Date.parse(instant) - Date.now();
  if (ms <= 0) return wake();
  return condition(wake, ms);
}
