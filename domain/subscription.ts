// The subscription lifecycle as plain data and rules, shared by the workflow (which enforces
// it) and the API (which explains rejections).
import type { BillingPeriod } from './calendar';
import type { PriceSnapshot } from './catalog';
import type { DeclineClass } from './declines';
import type { Coupon } from './discounts';
import type { DunningPhase, EndAction } from './dunning';
import type { GatewayEvent } from './gateway-events';
import type { PauseState, ScheduledChange } from './lifecycle';
import type { Currency } from './money';

export const SUBSCRIPTION_STATUSES = [
  'incomplete', // first payment not yet made
  'trialing',
  'active',
  'past_due', // a payment failed and recovery is under way
  'paused',
  'canceled',
  'unpaid', // recovery failed; ended
] as const;
export type SubscriptionStatus = (typeof SUBSCRIPTION_STATUSES)[number];

export const ENDED_STATUSES: readonly SubscriptionStatus[] = ['canceled', 'unpaid'];

export function isEnded(status: SubscriptionStatus): boolean {
  return ENDED_STATUSES.includes(status);
}

export interface StatusChange {
  readonly from: SubscriptionStatus | null;
  readonly to: SubscriptionStatus;
  readonly at: string;
  readonly cause: string;
}

export interface LastPayment {
  readonly invoiceId: string;
  readonly amount: number;
  readonly currency: Currency;
  readonly outcome: 'succeeded' | 'declined' | 'requires_action';
  readonly gateway: string;
  readonly declineCode: string | null;
  readonly at: string;
}

/** What GET /v1/subscriptions/:id shows, answered by the workflow's query. */
export interface SubscriptionView {
  readonly subscriptionId: string;
  readonly customerId: string;
  readonly status: SubscriptionStatus;
  readonly plan: PriceSnapshot;
  readonly anchor: string;
  readonly currentPeriod: BillingPeriod | null;
  readonly nextCharge: { readonly at: string; readonly amount: number; readonly currency: Currency } | null;
  readonly lastPayment: LastPayment | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly canceledAt: string | null;
  readonly statusHistory: readonly StatusChange[];
  /** Disputes on this subscription's payments, by dispute id, as the gateway last reported them. */
  readonly disputes: Readonly<Record<string, DisputeState>>;
  readonly lastGatewayEvent: { readonly eventId: string; readonly kind: string; readonly occurredAt: string } | null;
  readonly quantity: number;
  /** When the free trial ends (the first charge), while trialing. */
  readonly trialEnd: string | null;
  readonly pause: PauseState | null;
  /** A downgrade or interval switch waiting for the period end. */
  readonly scheduledChange: ScheduledChange | null;
  readonly coupon: { readonly coupon: Coupon; readonly periodsBilled: number } | null;
  /** Credits (unused time) waiting for the next invoice, in minor units (<= 0). */
  readonly pendingCredit: number;
  /** Payment recovery of the invoice being collected; null when nothing is owed. */
  readonly dunning: DunningView | null;
  /** Whether the customer may use what the subscription gives, and why not when not. */
  readonly access: { readonly granted: boolean; readonly reason: string };
}

export interface DunningView {
  readonly invoiceId: string;
  readonly phase: DunningPhase;
  readonly firstFailureAt: string;
  readonly attempts: number;
  readonly automaticRetries: number;
  readonly lastDeclineCode: string;
  readonly lastDeclineClass: DeclineClass;
  /** The next charge dunning has scheduled and why (the retry model's stated reason). */
  readonly nextAttempt: { readonly at: string; readonly reason: string; readonly score: number | null } | null;
  /** Access is kept until then (the grace period). */
  readonly accessUntil: string;
  /** No retry or reminder after this; the plan's end action applies. */
  readonly windowEndsAt: string;
  readonly endAction: EndAction;
}

/** Access follows the service: trial, active, and past due within the grace period, unless a dispute suspends it. */
export function subscriptionAccess(args: {
  status: SubscriptionStatus;
  at: string;
  accessUntil: string | null;
  suspendedByDispute: boolean;
}): { granted: boolean; reason: string } {
  if (args.suspendedByDispute) return { granted: false, reason: 'suspended while a payment dispute is open' };
  switch (args.status) {
    case 'trialing':
      return { granted: true, reason: 'in free trial' };
    case 'active':
      return { granted: true, reason: 'paid' };
    case 'past_due':
      if (args.accessUntil && Date.parse(args.at) >= Date.parse(args.accessUntil)) {
        return { granted: false, reason: `grace period ended ${args.accessUntil}; payment overdue` };
      }
      return { granted: true, reason: args.accessUntil ? `payment overdue; access kept until ${args.accessUntil}` : 'payment overdue' };
    case 'incomplete':
      return { granted: false, reason: 'first payment not complete' };
    case 'paused':
      return { granted: false, reason: 'paused' };
    case 'canceled':
      return { granted: false, reason: 'canceled' };
    case 'unpaid':
      return { granted: false, reason: 'unpaid' };
  }
}

export interface DisputeState {
  readonly status: 'open' | 'closed';
  readonly outcome: string | null;
  readonly paymentReference: string | null;
  /** The gateway's time of the event applied last: an older event delivered late is ignored. */
  readonly updatedAt: string;
}

/**
 * The disputes once a dispute_opened or dispute_closed event is applied, keyed by dispute id.
 * Gateways deliver out of order: an event older than what is known changes nothing (the same
 * object comes back).
 */
export function withDisputeEvent(disputes: Readonly<Record<string, DisputeState>>, event: GatewayEvent): Readonly<Record<string, DisputeState>> {
  const id = event.disputeId ?? event.paymentReference ?? event.eventId;
  const known = disputes[id];
  if (known && Date.parse(known.updatedAt) > Date.parse(event.occurredAt)) return disputes;
  return {
    ...disputes,
    [id]: {
      status: event.kind === 'dispute_opened' ? 'open' : 'closed',
      outcome: event.kind === 'dispute_closed' ? event.disputeOutcome : null,
      paymentReference: event.paymentReference,
      updatedAt: event.occurredAt,
    },
  };
}

export type CancelWhen = 'period_end' | 'now';

/** Why a cancel request cannot apply, or null when it can. */
export function cancelRejection(status: SubscriptionStatus, when: CancelWhen, cancelAtPeriodEnd: boolean): string | null {
  if (isEnded(status)) return `subscription is already ${status}`;
  if (when === 'period_end' && cancelAtPeriodEnd) return 'subscription is already set to cancel at period end';
  return null;
}
