// Message definitions shared by the workflows and their clients (the API, tests, ops tools).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { GatewayEvent } from '../domain/gateway-events';
import type { Coupon } from '../domain/discounts';
import type { ChangeRequest } from '../domain/lifecycle';
import type { CancelWhen, SubscriptionView } from '../domain/subscription';

export const TASK_QUEUE = 'billing';

export const getSubscription = defineQuery<SubscriptionView>('getSubscription');

export interface CancelRequest {
  readonly when: CancelWhen;
  readonly reason?: string;
}
export const cancelSubscription = defineUpdate<SubscriptionView, [CancelRequest]>('cancelSubscription');

/** A lifecycle change as the API asks for it; the workflow adds the time (its own clock). */
export type SubscriptionChange = ChangeRequest extends infer R ? (R extends { at: string } ? Omit<R, 'at'> : never) : never;

export interface SubscriptionChangeResult {
  readonly kind: SubscriptionChange['kind'];
  readonly timing: 'now' | 'period_end';
  readonly effectiveAt: string;
  readonly summary: string;
  /** Due now (positive) or credited to the next invoice (negative), before tax. */
  readonly amountDue: number;
  /** The invoice the change is billed on now, when it bills anything now. */
  readonly invoiceId: string | null;
  readonly subscription: SubscriptionView;
}

/**
 * Pause, resume, cancel, undo a pending cancel, reactivate, change plan, quantity or billing
 * date: validated against the workflow's state (domain/lifecycle decideChange); a refused change
 * fails the update with the reason and never enters history.
 */
export const changeSubscription = defineUpdate<SubscriptionChangeResult, [SubscriptionChange]>('changeSubscription');

/** A coupon redeemed on a running subscription (the API has checked it exists and its limits). */
export const applySubscriptionCoupon = defineUpdate<SubscriptionView, [{ coupon: Coupon }]>('applySubscriptionCoupon');

/** A new payment method token for this subscription (API call or gateway webhook). */
export const paymentMethodUpdated = defineSignal<[{ token: string }]>('paymentMethodUpdated');

/** A verified, de-duplicated gateway webhook event (see api/routes/webhooks.ts). */
export const gatewayEventReceived = defineSignal<[GatewayEvent]>('gatewayEventReceived');

export const searchAttributes = {
  customerId: defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD),
  planId: defineSearchAttributeKey('PlanId', SearchAttributeType.KEYWORD),
  status: defineSearchAttributeKey('SubscriptionStatus', SearchAttributeType.KEYWORD),
  interval: defineSearchAttributeKey('BillingInterval', SearchAttributeType.KEYWORD),
  nextBillingAt: defineSearchAttributeKey('NextBillingAt', SearchAttributeType.DATETIME),
} as const;

export function subscriptionWorkflowId(subscriptionId: string): string {
  return `subscription-${subscriptionId}`;
}
