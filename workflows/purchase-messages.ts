// Message definitions of the course purchase workflow, shared with its clients (the API, tests).
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { OrderView } from '../domain/course-purchase';

export const getOrder = defineQuery<OrderView>('getOrder');

export interface CancelAccessRequest {
  readonly reason?: string;
}
/** The buyer stops using the courses: access ends now; installments still due stay due. */
export const cancelAccess = defineUpdate<OrderView, [CancelAccessRequest]>('cancelAccess');

/** A new payment method for the order's remaining installments; a payment in dunning is retried at once. */
export const orderPaymentMethodUpdated = defineSignal<[{ token: string }]>('orderPaymentMethodUpdated');

export function orderWorkflowId(orderId: string): string {
  return `order-${orderId}`;
}
