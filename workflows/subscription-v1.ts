// The first version of the subscription workflow, kept verbatim so subscriptions started
// before lifecycle updates and dunning existed replay exactly as they ran (see subscription.ts:
// patched('lifecycle-and-dunning') sends only those runs here). Do not change its commands.
import {
  ActivityFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { CHARGE_ACTIVITY, RECORD_ACTIVITY } from './activity-options';
import type { BillingActivities, ChargeInvoiceResult } from '../activities/billing';
import { billingPeriod, type BillingPeriod } from '../domain/calendar';
import type { PriceSnapshot } from '../domain/catalog';
import { nextRetryAt } from '../domain/dunning-policy';
import { buildRenewalInvoice, type Invoice } from '../domain/invoice';
import {
  cancelRejection,
  subscriptionAccess,
  withDisputeEvent,
  type DisputeState,
  type LastPayment,
  type StatusChange,
  type SubscriptionStatus,
  type SubscriptionView,
} from '../domain/subscription';
import type { GatewayEvent } from '../domain/gateway-events';
import { cancelSubscription, gatewayEventReceived, getSubscription, paymentMethodUpdated, searchAttributes } from './messages';

export interface SubscriptionWorkflowInputV1 {
  readonly subscriptionId: string;
  readonly customerId: string;
  readonly plan: PriceSnapshot;
  readonly paymentMethodToken: string;
  /** Seats or units billed each period (default 1). */
  readonly quantity?: number;
  /** First period start and billing-cycle anchor; defaults to the moment the workflow starts. */
  readonly startAt?: string;
  /** Periods billed per workflow run before continue-as-new keeps the history small. */
  readonly periodsPerRun?: number;
  /** Present only when continuing as new: everything the next run needs. */
  readonly carried?: CarriedStateV1;
}

export interface CarriedStateV1 {
  anchor: string;
  status: SubscriptionStatus;
  nextPeriodIndex: number;
  currentPeriod: BillingPeriod | null;
  paymentMethodToken: string;
  gatewayCustomerId: string | null;
  cancelAtPeriodEnd: boolean;
  canceledAt: string | null;
  lastPayment: LastPayment | null;
  statusChanges: number;
  recentStatusHistory: readonly StatusChange[];
  disputes?: Record<string, DisputeState>;
  seenEventIds?: readonly string[];
  lastGatewayEvent?: SubscriptionView['lastGatewayEvent'];
}

const { recordSubscription, recordSubscriptionProgress, ensureGatewayCustomer, issueInvoice, recordExternalPayment } =
  proxyActivities<BillingActivities>(RECORD_ACTIVITY);

const { chargeInvoice } = proxyActivities<BillingActivities>(CHARGE_ACTIVITY);

const DEFAULT_PERIODS_PER_RUN = 12;
const SEEN_EVENTS_KEPT = 100;
const STATUS_HISTORY_KEPT = 20;

export async function subscriptionWorkflowV1(input: SubscriptionWorkflowInputV1): Promise<SubscriptionView> {
  const now = () => new Date().toISOString(); // the workflow clock: deterministic on replay
  const anchor = input.carried?.anchor ?? input.startAt ?? now();
  const state: CarriedStateV1 & { cancelNowRequested: boolean; retryNowRequested: boolean } = {
    anchor,
    status: 'incomplete',
    nextPeriodIndex: 0,
    currentPeriod: null,
    paymentMethodToken: input.paymentMethodToken,
    gatewayCustomerId: null,
    cancelAtPeriodEnd: false,
    canceledAt: null,
    lastPayment: null,
    statusChanges: 0,
    recentStatusHistory: [],
    disputes: {},
    seenEventIds: [],
    lastGatewayEvent: null,
    ...input.carried,
    cancelNowRequested: false,
    retryNowRequested: false,
  };
  /** A payment the gateway confirmed asynchronously (webhook) for the invoice being collected. */
  let externalPayment: GatewayEvent | null = null;
  const quantity = input.quantity ?? 1;
  const ended = () => state.status === 'canceled' || state.status === 'unpaid';

  const nextPeriod = () => billingPeriod(state.anchor, input.plan.interval, state.nextPeriodIndex);

  const view = (): SubscriptionView => ({
    subscriptionId: input.subscriptionId,
    customerId: input.customerId,
    status: state.status,
    plan: input.plan,
    anchor: state.anchor,
    currentPeriod: state.currentPeriod,
    nextCharge:
      ended() || (state.cancelAtPeriodEnd && state.currentPeriod)
        ? null
        : { at: nextPeriod().start, amount: input.plan.unitAmount * quantity, currency: input.plan.currency },
    lastPayment: state.lastPayment,
    cancelAtPeriodEnd: state.cancelAtPeriodEnd,
    canceledAt: state.canceledAt,
    statusHistory: state.recentStatusHistory,
    disputes: state.disputes ?? {},
    lastGatewayEvent: state.lastGatewayEvent ?? null,
    quantity,
    trialEnd: null,
    pause: null,
    scheduledChange: null,
    coupon: null,
    pendingCredit: 0,
    dunning: null,
    access: subscriptionAccess({ status: state.status, at: now(), accessUntil: null, suspendedByDispute: false }),
  });

  let pendingChange: (StatusChange & { seq: number }) | null = null;
  const transition = (to: SubscriptionStatus, cause: string) => {
    if (state.status === to) return;
    const change = { from: state.status, to, at: now(), cause };
    state.statusChanges += 1;
    pendingChange = { ...change, seq: state.statusChanges };
    state.recentStatusHistory = [...state.recentStatusHistory, change].slice(-STATUS_HISTORY_KEPT);
    state.status = to;
  };

  /** Writes the read model and the search attributes the Web UI filters by. */
  const publish = async () => {
    const next = view().nextCharge;
    upsertSearchAttributes([
      { key: searchAttributes.status, value: state.status },
      { key: searchAttributes.nextBillingAt, value: next ? new Date(next.at) : null },
    ]);
    const change = pendingChange;
    pendingChange = null;
    await recordSubscriptionProgress({
      subscriptionId: input.subscriptionId,
      status: state.status,
      currentPeriodStart: state.currentPeriod?.start ?? null,
      currentPeriodEnd: state.currentPeriod?.end ?? null,
      cancelAtPeriodEnd: state.cancelAtPeriodEnd,
      canceledAt: state.canceledAt,
      change,
    });
  };

  setHandler(getSubscription, view);
  setHandler(
    cancelSubscription,
    ({ when, reason }) => {
      if (when === 'now') {
        state.cancelNowRequested = true;
        state.canceledAt = now();
        transition('canceled', reason ? `canceled now: ${reason}` : 'canceled now');
      } else {
        state.cancelAtPeriodEnd = true;
      }
      return view();
    },
    {
      validator: ({ when }) => {
        const rejection = cancelRejection(state.status, when, state.cancelAtPeriodEnd);
        if (rejection) throw new Error(rejection);
      },
    },
  );
  setHandler(paymentMethodUpdated, ({ token }) => {
    state.paymentMethodToken = token;
    state.retryNowRequested = true;
  });
  setHandler(gatewayEventReceived, (event) => {
    // Webhooks are de-duplicated at the API; this guards replays and redeliveries after that.
    if (state.seenEventIds?.includes(event.eventId)) return;
    state.seenEventIds = [...(state.seenEventIds ?? []), event.eventId].slice(-SEEN_EVENTS_KEPT);
    state.lastGatewayEvent = { eventId: event.eventId, kind: event.kind, occurredAt: event.occurredAt };
    switch (event.kind) {
      case 'payment_method_updated':
        if (event.token && event.token !== state.paymentMethodToken) {
          state.paymentMethodToken = event.token;
          state.retryNowRequested = true;
        }
        break;
      case 'dispute_opened':
      case 'dispute_closed':
        state.disputes = { ...withDisputeEvent(state.disputes ?? {}, event) };
        break;
      case 'payment_succeeded':
        externalPayment = event;
        state.retryNowRequested = true;
        break;
      default:
        break;
    }
  });

  if (!input.carried) {
    await recordSubscription({
      subscriptionId: input.subscriptionId,
      customerId: input.customerId,
      plan: input.plan,
      status: state.status,
      anchor: state.anchor,
      paymentMethodToken: input.paymentMethodToken,
    });
    state.gatewayCustomerId = await ensureGatewayCustomer(input.customerId);
    await publish();
  }

  const periodsPerRun = input.periodsPerRun ?? DEFAULT_PERIODS_PER_RUN;
  let periodsThisRun = 0;

  while (!ended()) {
    const period = nextPeriod();
    await sleepUntil(period.start, () => state.cancelNowRequested);
    if (ended()) break;
    if (state.cancelAtPeriodEnd && state.currentPeriod) {
      state.canceledAt = period.start;
      transition('canceled', 'canceled at period end');
      break;
    }

    const invoice = buildRenewalInvoice({
      subscriptionId: input.subscriptionId,
      customerId: input.customerId,
      price: input.plan,
      period,
      quantity,
    });
    await issueInvoice(invoice);
    const paid = await collectPayment(invoice);
    if (ended()) break;
    if (!paid) {
      transition('unpaid', 'payment retries exhausted');
      break;
    }
    transition('active', period.index === 0 ? 'first payment succeeded' : 'renewal paid');
    state.currentPeriod = period;
    state.nextPeriodIndex += 1;
    await publish();

    periodsThisRun += 1;
    if (periodsThisRun >= periodsPerRun || workflowInfo().continueAsNewSuggested) {
      await condition(allHandlersFinished);
      const { cancelNowRequested: _cancel, retryNowRequested: _retry, ...carried } = state;
      return continueAsNew<typeof subscriptionWorkflowV1>({ ...input, carried });
    }
  }

  await publish();
  return view();

  /**
   * Charges an invoice until paid, retrying on the dunning schedule after a decline.
   * Returns false when the schedule is exhausted.
   */
  async function collectPayment(invoice: Invoice): Promise<boolean> {
    let attempt = 0;
    let firstFailureAt: string | null = null;
    for (;;) {
      attempt += 1;
      state.retryNowRequested = false;
      const attemptedAt = now();
      const result = await attemptCharge(invoice, attempt, attemptedAt);
      state.lastPayment = {
        invoiceId: invoice.id,
        amount: invoice.total,
        currency: invoice.currency,
        outcome: result.outcome,
        gateway: result.gateway,
        declineCode: result.outcome === 'declined' ? result.declineCode : null,
        at: attemptedAt,
      };
      if (result.outcome === 'succeeded') return true;

      firstFailureAt ??= attemptedAt;
      if (state.status !== 'incomplete') {
        transition('past_due', `payment ${result.outcome}${result.outcome === 'declined' ? ` (${result.declineCode})` : ''}`);
      }
      await publish();
      const retryAt = nextRetryAt(firstFailureAt, attempt);
      if (!retryAt) return false;
      await sleepUntil(retryAt, () => state.cancelNowRequested || state.retryNowRequested);
      if (ended()) return false;
      const confirmed = externalPayment;
      if (confirmed && confirmed.invoiceId === invoice.id && confirmed.paymentReference) {
        // The gateway took the money outside our charge call (e.g. after 3-D Secure).
        await recordExternalPayment({
          invoiceId: invoice.id,
          amount: invoice.total,
          currency: invoice.currency,
          gateway: confirmed.gateway,
          reference: confirmed.paymentReference,
          receivedAt: confirmed.occurredAt,
        });
        state.lastPayment = { ...state.lastPayment!, outcome: 'succeeded', gateway: confirmed.gateway, declineCode: null, at: confirmed.occurredAt };
        return true;
      }
    }
  }

  async function attemptCharge(invoice: Invoice, attempt: number, attemptedAt: string): Promise<ChargeInvoiceResult> {
    try {
      return await chargeInvoice({
        invoiceId: invoice.id,
        customerId: input.customerId,
        subscriptionId: input.subscriptionId,
        attempt,
        amount: invoice.total,
        currency: invoice.currency,
        paymentMethodToken: state.paymentMethodToken,
        gatewayCustomerId: state.gatewayCustomerId,
        description: invoice.lines[0]?.description ?? 'Subscription',
        attemptedAt,
      });
    } catch (error) {
      // The gateway stayed unreachable through every retry of this attempt: count it as a
      // failed attempt and let the dunning schedule decide when to try again.
      if (error instanceof ActivityFailure) {
        return { outcome: 'declined', gateway: 'stripe', declineCode: 'gateway_unavailable', message: error.message };
      }
      throw error;
    }
  }
}

/** Sleeps on the workflow clock until `instant`, or until `wake` becomes true. */
async function sleepUntil(instant: string, wake: () => boolean): Promise<void> {
  const ms = Date.parse(instant) - Date.now();
  if (ms > 0) await condition(wake, ms);
}
