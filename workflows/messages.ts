// Message definitions shared by the workflows and their clients (the API, tests, ops tools).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { GatewayEvent } from '../domain/gateway-events';
import type { CancelWhen, SubscriptionView } from '../domain/subscription';

export const TASK_QUEUE = 'billing';

export const getSubscription = defineQuery<SubscriptionView>('getSubscription');

export interface CancelRequest {
  readonly when: CancelWhen;
  readonly reason?: string;
}
export const cancelSubscription = defineUpdate<SubscriptionView, [CancelRequest]>('cancelSubscription');

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
