// Side effects of billing, built by a factory that takes its dependencies (pool, gateway) so
// tests and workers wire real adapters in. Every activity is idempotent: Temporal may run it
// again after a timeout, a worker crash or a retry.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DatabasePool } from 'slonik';
import { findCustomer, setStripeCustomerId } from '../db/customers';
import { markInvoicePaid, recordIssuedInvoice } from '../db/invoices';
import { postJournalEntry } from '../db/ledger';
import { recordAttemptOutcome, recordAttemptStarted } from '../db/payments';
import { recordSubscriptionProgress, upsertSubscription, type SubscriptionProgress, type SubscriptionRecord } from '../db/subscriptions';
import { paymentReceivedEntry } from '../domain/ledger';
import type { Currency } from '../domain/money';
import type { Invoice } from '../domain/invoice';
import type { ChargeOutcome, Gateway, GatewayName } from '../gateways/gateway';

export interface BillingDependencies {
  readonly pool: DatabasePool;
  readonly gateway: Gateway;
}

export interface ChargeInvoiceRequest {
  readonly invoiceId: string;
  readonly customerId: string;
  readonly subscriptionId: string | null;
  readonly attempt: number;
  readonly amount: number;
  readonly currency: Currency;
  readonly paymentMethodToken: string;
  readonly gatewayCustomerId: string | null;
  readonly description: string;
  /** Workflow time of the attempt: what the books record, whatever the worker's clock says. */
  readonly attemptedAt: string;
}

export type ChargeInvoiceResult =
  | { readonly outcome: 'succeeded'; readonly gateway: GatewayName; readonly reference: string }
  | { readonly outcome: 'declined'; readonly gateway: GatewayName; readonly declineCode: string; readonly message: string }
  | { readonly outcome: 'requires_action'; readonly gateway: GatewayName; readonly reference: string };

/** One key per invoice attempt: the same attempt, however often retried, can charge only once. */
export function chargeIdempotencyKey(invoiceId: string, attempt: number): string {
  return `${invoiceId}:attempt-${attempt}`;
}

export function createBillingActivities({ pool, gateway }: BillingDependencies) {
  return {
    async recordSubscription(record: SubscriptionRecord): Promise<void> {
      await pool.transaction((tx) => upsertSubscription(tx, record));
    },

    async recordSubscriptionProgress(progress: SubscriptionProgress): Promise<void> {
      await pool.transaction((tx) => recordSubscriptionProgress(tx, progress));
    },

    /** The customer's id at the gateway, created once (the idempotency key makes a retry reuse it). */
    async ensureGatewayCustomer(customerId: string): Promise<string> {
      const customer = await findCustomer(pool, customerId);
      if (!customer) throw ApplicationFailure.nonRetryable(`customer ${customerId} does not exist`, 'UnknownCustomer');
      if (customer.stripe_customer_id) return customer.stripe_customer_id;
      const { gatewayCustomerId } = await gateway.createCustomer({
        customerId,
        email: customer.email,
        name: customer.name,
        idempotencyKey: `customer:${customerId}`,
      });
      await setStripeCustomerId(pool, customerId, gatewayCustomerId);
      return (await findCustomer(pool, customerId))?.stripe_customer_id ?? gatewayCustomerId;
    },

    async issueInvoice(invoice: Invoice): Promise<{ number: string }> {
      return recordIssuedInvoice(pool, invoice);
    },

    async chargeInvoice(request: ChargeInvoiceRequest): Promise<ChargeInvoiceResult> {
      const idempotencyKey = chargeIdempotencyKey(request.invoiceId, request.attempt);
      await recordAttemptStarted(pool, {
        idempotencyKey,
        invoiceId: request.invoiceId,
        attempt: request.attempt,
        gateway: gateway.name,
        amount: request.amount,
        currency: request.currency,
      });
      const startedAt = Date.now();
      // Heartbeats while the gateway answers let Temporal notice a dead worker within the
      // heartbeat timeout and retry the attempt (same key) elsewhere, long before start-to-close.
      const context = Context.current();
      const heartbeat = setInterval(() => context.heartbeat(), 1_000);
      const outcome = await gateway.charge({
        amount: { amount: request.amount, currency: request.currency },
        gatewayCustomerId: request.gatewayCustomerId ?? undefined,
        paymentMethodToken: request.paymentMethodToken,
        idempotencyKey,
        description: request.description,
        metadata: {
          invoice_id: request.invoiceId,
          customer_id: request.customerId,
          ...(request.subscriptionId ? { subscription_id: request.subscriptionId } : {}),
        },
      }).finally(() => clearInterval(heartbeat));
      const latencyMs = Date.now() - startedAt;
      if (outcome.status === 'gateway_error') {
        await recordAttemptOutcome(pool, idempotencyKey, outcome, latencyMs);
        // Retrying with the same idempotency key is safe: the gateway answers a repeat with the
        // first result instead of charging again.
        throw ApplicationFailure.retryable(`${outcome.gateway}: ${outcome.message}`, 'GatewayError');
      }
      await pool.transaction(async (tx) => {
        await recordAttemptOutcome(tx, idempotencyKey, outcome, latencyMs);
        if (outcome.status === 'succeeded') {
          await markInvoicePaid(tx, request.invoiceId, request.amount, request.attemptedAt);
          await postJournalEntry(
            tx,
            paymentReceivedEntry({
              idempotencyKey,
              invoiceId: request.invoiceId,
              gateway: outcome.gateway,
              currency: request.currency,
              amount: request.amount,
              receivedAt: request.attemptedAt,
            }),
          );
        }
      });
      return toResult(outcome);
    },
  };
}

function toResult(outcome: Exclude<ChargeOutcome, { status: 'gateway_error' }>): ChargeInvoiceResult {
  switch (outcome.status) {
    case 'succeeded':
      return { outcome: 'succeeded', gateway: outcome.gateway, reference: outcome.reference };
    case 'declined':
      return { outcome: 'declined', gateway: outcome.gateway, declineCode: outcome.declineCode, message: outcome.message };
    case 'requires_action':
      return { outcome: 'requires_action', gateway: outcome.gateway, reference: outcome.reference };
  }
}

export type BillingActivities = ReturnType<typeof createBillingActivities>;
