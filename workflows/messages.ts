// Message definitions shared by the workflows and their clients (the API, tests, ops tools).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
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
