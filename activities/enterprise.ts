// Side effects of enterprise invoices (NET terms), built by a factory that takes the pool and the
// card gateway. Every activity is idempotent: the invoice, each payment and each notice is keyed
// by the business event it records, so a retried or replayed call writes nothing twice.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DatabasePool } from 'slonik';
import { findCustomer } from '../db/customers';
import { enqueueNotice } from '../db/notifications';
import {
  findInvoiceDetail,
  recordInvoicePayment,
  recordIssuedEnterpriseInvoice,
  setCollectionStatus,
  voidEnterpriseInvoice,
  type CollectionStatus,
  type InvoiceDetail,
  type InvoicePaymentRecord,
  type IssuedEnterpriseInvoice,
} from '../db/enterprise';
import { recordAttemptOutcome, recordAttemptStarted } from '../db/payments';
import type { PaymentReminder } from '../domain/enterprise';
import { invoiceReminderKey, pastDueAlertKey, renderInvoiceReminder, renderPastDueAlert, type ReminderContext } from '../domain/enterprise-notices';
import { isCurrency, money, type Currency } from '../domain/money';
import type { Gateway, GatewayName } from '../gateways/gateway';

export const DEFAULT_OPS_RECIPIENT = 'billing-ops@durable-billing.invalid';

export interface EnterpriseDependencies {
  readonly pool: DatabasePool;
  /** The gateway that charges card payments (Stripe). */
  readonly gateway: Gateway;
  /** Where operator alerts (an invoice gone past due) are sent. */
  readonly opsRecipient?: string;
}

export interface CardPaymentRequest {
  readonly invoiceId: string;
  readonly customerId: string;
  readonly paymentId: string;
  /** The payer's reference: the charge's idempotency key is made from it (see cardChargeIdempotencyKey). */
  readonly reference: string;
  /** The workflow's payment sequence number, recorded with the attempt. */
  readonly sequence: number;
  readonly amount: number;
  readonly currency: Currency;
  readonly paymentMethodToken: string;
  readonly description: string;
}

export type CardPaymentResult =
  | { readonly outcome: 'succeeded'; readonly gateway: GatewayName; readonly reference: string }
  | { readonly outcome: 'declined'; readonly gateway: GatewayName; readonly declineCode: string; readonly message: string }
  | { readonly outcome: 'requires_action'; readonly gateway: GatewayName; readonly reference: string };

/**
 * One charge per invoice and payer reference: a retried activity, a replayed workflow or a
 * repeated API request with the same reference reaches the gateway with the same key, and the
 * gateway answers it from its idempotency store instead of charging again.
 */
export function cardChargeIdempotencyKey(invoiceId: string, reference: string): string {
  return `${invoiceId}:card:${reference}`;
}

export function createEnterpriseActivities({ pool, gateway, opsRecipient = DEFAULT_OPS_RECIPIENT }: EnterpriseDependencies) {
  async function invoiceContext(invoiceId: string, amountDue: number): Promise<{ detail: InvoiceDetail; context: ReminderContext }> {
    const detail = await findInvoiceDetail(pool, invoiceId);
    if (!detail) throw ApplicationFailure.nonRetryable(`invoice ${invoiceId} does not exist`, 'UnknownInvoice');
    if (!isCurrency(detail.currency)) throw ApplicationFailure.nonRetryable(`invoice ${invoiceId} has currency ${detail.currency}`, 'UnknownCurrency');
    return {
      detail,
      context: {
        customerName: detail.customer.name,
        invoiceNumber: detail.number,
        total: money(detail.total, detail.currency),
        amountDue: money(amountDue, detail.currency),
        dueAt: detail.dueAt,
      },
    };
  }

  return {
    /** Persists the issued invoice (lines, seats, tax, number, ledger entry) once; returns its number. */
    async issueEnterpriseInvoice(issued: IssuedEnterpriseInvoice): Promise<{ number: string }> {
      if (!(await findCustomer(pool, issued.invoice.customerId))) {
        throw ApplicationFailure.nonRetryable(`customer ${issued.invoice.customerId} does not exist`, 'UnknownCustomer');
      }
      return recordIssuedEnterpriseInvoice(pool, issued);
    },

    /** Charges a card payment through the gateway with an idempotency key from the payer's reference. */
    async chargeEnterpriseCard(request: CardPaymentRequest): Promise<CardPaymentResult> {
      const idempotencyKey = cardChargeIdempotencyKey(request.invoiceId, request.reference);
      const customer = await findCustomer(pool, request.customerId);
      await recordAttemptStarted(pool, {
        idempotencyKey,
        invoiceId: request.invoiceId,
        attempt: request.sequence,
        gateway: gateway.name,
        amount: request.amount,
        currency: request.currency,
        paymentMethodToken: request.paymentMethodToken,
      });
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(), 1_000);
      const startedAt = Date.now();
      const outcome = await gateway
        .charge({
          amount: money(request.amount, request.currency),
          ...(gateway.name === 'stripe' && customer?.stripe_customer_id ? { gatewayCustomerId: customer.stripe_customer_id } : {}),
          paymentMethodToken: request.paymentMethodToken,
          idempotencyKey,
          description: request.description,
          metadata: { invoice_id: request.invoiceId, customer_id: request.customerId, payment_id: request.paymentId },
        })
        .finally(() => clearInterval(heartbeat));
      await recordAttemptOutcome(pool, idempotencyKey, outcome, Date.now() - startedAt);
      switch (outcome.status) {
        case 'gateway_error':
          // Nothing settled (or unknown): a retry with the same key is answered, not charged twice.
          throw ApplicationFailure.retryable(`${outcome.gateway}: ${outcome.message}`, 'GatewayError');
        case 'succeeded':
          return { outcome: 'succeeded', gateway: outcome.gateway, reference: outcome.reference };
        case 'declined':
          return { outcome: 'declined', gateway: outcome.gateway, declineCode: outcome.declineCode, message: outcome.message };
        case 'requires_action':
          return { outcome: 'requires_action', gateway: outcome.gateway, reference: outcome.reference };
      }
    },

    /** Books a payment (row, ledger entry, amount paid, status) once. */
    async recordEnterprisePayment(payment: InvoicePaymentRecord): Promise<{ amountPaid: number; status: string }> {
      const { amountPaid, status } = await recordInvoicePayment(pool, payment);
      return { amountPaid, status };
    },

    async recordCollectionStatus(change: { invoiceId: string; status: CollectionStatus; at: string }): Promise<void> {
      await setCollectionStatus(pool, change.invoiceId, change.status, change.at);
    },

    /** Enqueues one payment reminder to the customer (once per invoice and reminder). */
    async sendInvoiceReminder(request: { invoiceId: string; reminder: PaymentReminder; amountDue: number }): Promise<{ enqueued: boolean }> {
      const { detail, context } = await invoiceContext(request.invoiceId, request.amountDue);
      const notice = renderInvoiceReminder(request.reminder.kind, context);
      const enqueued = await enqueueNotice(pool, {
        idempotencyKey: invoiceReminderKey(request.invoiceId, request.reminder.kind),
        kind: `invoice_${request.reminder.kind}`,
        recipient: detail.customer.email,
        subject: notice.subject,
        body: notice.text,
        customerId: detail.customer.id,
        invoiceId: request.invoiceId,
        sendAfter: request.reminder.at,
      });
      return { enqueued };
    },

    /** Enqueues the operators' alert that the invoice went past due (once per invoice). */
    async alertInvoicePastDue(request: { invoiceId: string; amountDue: number; at: string }): Promise<{ enqueued: boolean }> {
      const { detail, context } = await invoiceContext(request.invoiceId, request.amountDue);
      const alert = renderPastDueAlert({ ...context, customerId: detail.customer.id, invoiceId: detail.id });
      const enqueued = await enqueueNotice(pool, {
        idempotencyKey: pastDueAlertKey(request.invoiceId),
        kind: 'ops_invoice_past_due',
        recipient: opsRecipient,
        subject: alert.subject,
        body: alert.text,
        customerId: detail.customer.id,
        invoiceId: request.invoiceId,
        sendAfter: request.at,
      });
      return { enqueued };
    },

    async voidEnterpriseInvoice(request: { invoiceId: string; reason: string; at: string }): Promise<void> {
      await voidEnterpriseInvoice(pool, request);
    },
  };
}

export type EnterpriseActivities = ReturnType<typeof createEnterpriseActivities>;
