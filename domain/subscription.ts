// The subscription lifecycle as plain data and rules, shared by the workflow (which enforces
// it) and the API (which explains rejections).
import type { BillingPeriod } from './calendar';
import type { PriceSnapshot } from './catalog';
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
}

export interface DisputeState {
  readonly status: 'open' | 'closed';
  readonly outcome: string | null;
  readonly paymentReference: string | null;
  /** The gateway's time of the event applied last: an older event delivered late is ignored. */
  readonly updatedAt: string;
}

export type CancelWhen = 'period_end' | 'now';

/** Why a cancel request cannot apply, or null when it can. */
export function cancelRejection(status: SubscriptionStatus, when: CancelWhen, cancelAtPeriodEnd: boolean): string | null {
  if (isEnded(status)) return `subscription is already ${status}`;
  if (when === 'period_end' && cancelAtPeriodEnd) return 'subscription is already set to cancel at period end';
  return null;
}
