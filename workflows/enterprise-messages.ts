// Message definitions of the enterprise invoice workflow, shared by the workflow and its
// clients (the API, tests, ops tools).
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { PaymentReminder, ReminderKind } from '../domain/enterprise';
import type { InvoiceLine } from '../domain/invoice';
import type { Currency } from '../domain/money';

export type EnterpriseInvoiceStatus = 'draft' | 'open' | 'partially_paid' | 'past_due' | 'paid' | 'void';
export type EnterprisePaymentMethod = 'bank_transfer' | 'card';

export interface EnterprisePayment {
  readonly paymentId: string;
  readonly reference: string;
  readonly method: EnterprisePaymentMethod;
  readonly amount: number;
  readonly receivedAt: string;
  /** PaymentIntent id for a card payment; null for a bank transfer. */
  readonly gatewayReference: string | null;
}

export interface SentReminder {
  readonly kind: ReminderKind;
  /** The scheduled instant (due date + offset), which the notice is dated by. */
  readonly at: string;
}

export interface EnterpriseInvoiceView {
  readonly invoiceId: string;
  readonly contractId: string;
  readonly customerId: string;
  /** The gap-free invoice number, once issued. */
  readonly number: string | null;
  readonly status: EnterpriseInvoiceStatus;
  readonly currency: Currency;
  readonly lines: readonly InvoiceLine[];
  readonly subtotal: number;
  readonly tax: number;
  readonly total: number;
  readonly amountPaid: number;
  readonly amountDue: number;
  readonly issuedAt: string;
  readonly dueAt: string;
  readonly reminderSchedule: readonly PaymentReminder[];
  readonly remindersSent: readonly SentReminder[];
  readonly payments: readonly EnterprisePayment[];
  readonly pastDueAt: string | null;
  readonly paidAt: string | null;
  readonly voidedAt: string | null;
  readonly voidReason: string | null;
}

export const getEnterpriseInvoice = defineQuery<EnterpriseInvoiceView>('getEnterpriseInvoice');

export interface RecordPaymentRequest {
  /** Minor units; partial payments are welcome, more than is owed is refused. */
  readonly amount: number;
  readonly method: EnterprisePaymentMethod;
  /** The payer's reference (bank transfer id, remittance reference): unique per invoice. */
  readonly reference: string;
  /** When the money arrived (bank transfers); defaults to the workflow's now. */
  readonly receivedAt?: string;
  /** A card payment's saved payment method token (pm_...); required for method 'card'. */
  readonly paymentMethodToken?: string;
}

/** Records a payment; rejected (with the reason) when it cannot be taken. Returns the new state. */
export const recordPayment = defineUpdate<EnterpriseInvoiceView, [RecordPaymentRequest]>('recordPayment');

export interface VoidInvoiceRequest {
  readonly reason: string;
}

/** Voids an unpaid invoice (nothing paid yet); the workflow then completes. */
export const voidInvoice = defineUpdate<EnterpriseInvoiceView, [VoidInvoiceRequest]>('voidInvoice');

export function enterpriseInvoiceWorkflowId(invoiceId: string): string {
  return `enterprise-invoice-${invoiceId}`;
}
