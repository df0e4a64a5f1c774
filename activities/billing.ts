// Side effects of billing, built by a factory that takes its dependencies (pool, gateway) so
// tests and workers wire real adapters in. Every activity is idempotent: Temporal may run it
// again after a timeout, a worker crash or a retry.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { DatabasePool } from 'slonik';
import { findCustomer, setStripeCustomerId } from '../db/customers';
import { amountStillOwed, markInvoicePaid, recordIssuedInvoice } from '../db/invoices';
import { postJournalEntry } from '../db/ledger';
import { findAttemptAmount, recordAttemptOutcome, recordAttemptStarted } from '../db/payments';
import { recordSubscriptionProgress, upsertSubscription, type SubscriptionProgress, type SubscriptionRecord } from '../db/subscriptions';
import { paymentReceivedEntry } from '../domain/ledger';
import type { Currency } from '../domain/money';
import type { Invoice } from '../domain/invoice';
import { gatewayOfToken, type ChargeOutcome, type Gateway, type GatewayName } from '../gateways/gateway';
import { routeKeys, type PaymentMethod, type PaymentRouter } from '../gateways/router';
import { listPaymentMethods } from '../db/payment-methods';

export interface BillingDependencies {
  readonly pool: DatabasePool;
  /** Routes each charge over the gateways with failover; see gateways/router.ts. */
  readonly router: PaymentRouter;
  /** Where customers are created (Stripe needs one for off-session charges). */
  readonly stripe: Gateway;
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
  /** Why this charge: the invoice's first, a retry dunning scheduled, or a newly added method's. */
  readonly trigger?: 'initial' | 'automatic' | 'new_payment_method';
  /** Automatic retries of the invoice so far, this one included (0 for the first charge). */
  readonly retryNumber?: number;
  /** The retry decision's reason, stored with the attempt. */
  readonly retryReason?: string | null;
}

export type ChargeInvoiceResult =
  | {
      readonly outcome: 'succeeded';
      readonly gateway: GatewayName;
      readonly reference: string;
      /** What was charged: less than asked when credit notes took part of the invoice off meanwhile. */
      readonly amount?: number;
      /** Set when credit notes had settled the whole invoice: nothing was charged. */
      readonly settledBy?: 'credit';
    }
  | { readonly outcome: 'declined'; readonly gateway: GatewayName; readonly declineCode: string; readonly message: string }
  | { readonly outcome: 'requires_action'; readonly gateway: GatewayName; readonly reference: string };

/** One key per invoice attempt: the same attempt, however often retried, can charge only once. */
export function chargeIdempotencyKey(invoiceId: string, attempt: number): string {
  return `${invoiceId}:attempt-${attempt}`;
}

export function createBillingActivities({ pool, router, stripe }: BillingDependencies) {
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
      const { gatewayCustomerId } = await stripe.createCustomer({
        customerId,
        email: customer.email,
        name: customer.name,
        idempotencyKey: `customer:${customerId}`,
      });
      await setStripeCustomerId(pool, customerId, gatewayCustomerId);
      return (await findCustomer(pool, customerId))?.stripe_customer_id ?? gatewayCustomerId;
    },

    /** A payment the gateway confirmed by webhook: booked once, keyed by the gateway's reference. */
    async recordExternalPayment(payment: {
      invoiceId: string;
      amount: number;
      currency: Currency;
      gateway: GatewayName;
      reference: string;
      receivedAt: string;
    }): Promise<void> {
      await pool.transaction(async (tx) => {
        const posted = await postJournalEntry(
          tx,
          paymentReceivedEntry({ idempotencyKey: `ext_${payment.reference}`, ...payment }),
        );
        if (posted) await markInvoicePaid(tx, payment.invoiceId, payment.amount, payment.receivedAt);
      });
    },

    async issueInvoice(invoice: Invoice): Promise<{ number: string }> {
      return recordIssuedInvoice(pool, invoice);
    },

    async chargeInvoice(request: ChargeInvoiceRequest): Promise<ChargeInvoiceResult> {
      const idempotencyKey = chargeIdempotencyKey(request.invoiceId, request.attempt);
      const context = Context.current();
      const paymentMethods = await paymentMethodsForCharge(request);
      const primary = paymentMethods[0]!;
      // Charge what is still owed, never the invoice's total blindly: a credit note issued while
      // dunning waited has taken part (or all) of it off. A retried activity keeps the amount its
      // first try started with, since the gateway binds the idempotency key to it.
      const started = await findAttemptAmount(pool, idempotencyKey);
      const owed = started ?? (await amountStillOwed(pool, request.invoiceId)) ?? request.amount;
      if (owed <= 0) {
        return { outcome: 'succeeded', gateway: primary.gateway, reference: `credited:${request.invoiceId}`, amount: 0, settledBy: 'credit' };
      }
      const amount = Math.min(request.amount, owed);
      await recordAttemptStarted(pool, {
        idempotencyKey,
        invoiceId: request.invoiceId,
        attempt: request.attempt,
        gateway: primary.gateway,
        amount,
        currency: request.currency,
        paymentMethodToken: primary.token,
        ...attemptFacts(request),
      });
      const startedAt = Date.now();
      // Heartbeats while the gateways answer let Temporal notice a dead worker within the
      // heartbeat timeout and retry the attempt (same key) elsewhere, long before start-to-close.
      const heartbeat = setInterval(() => context.heartbeat(), 1_000);
      const routed = await router
        .charge({
          amount: { amount, currency: request.currency },
          idempotencyKey,
          description: request.description,
          metadata: {
            invoice_id: request.invoiceId,
            customer_id: request.customerId,
            ...(request.subscriptionId ? { subscription_id: request.subscriptionId } : {}),
          },
          paymentMethods,
          // A retried activity may have charged (or failed over) before it died: look first.
          mayHaveBeenAttempted: context.info.attempt > 1,
        })
        .finally(() => clearInterval(heartbeat));
      const latencyMs = Date.now() - startedAt;
      const outcome = routed.outcome;

      // Which method each key charged: the router's own key derivation, not a guess by gateway.
      const tokenOfKey = new Map(routeKeys(idempotencyKey, paymentMethods).map((r) => [r.idempotencyKey, r.method.token]));
      await pool.transaction(async (tx) => {
        for (const step of routed.steps) {
          if (step.action !== 'charge') continue;
          await recordAttemptStarted(tx, {
            idempotencyKey: step.idempotencyKey,
            invoiceId: request.invoiceId,
            attempt: request.attempt,
            gateway: step.gateway,
            amount,
            currency: request.currency,
            paymentMethodToken: tokenOfKey.get(step.idempotencyKey) ?? null,
            ...attemptFacts(request),
          });
          await recordAttemptOutcome(tx, step.idempotencyKey, step.outcome, latencyMs);
        }
        // The outcome may have come from a lookup (no charge step): record it on its key too.
        if (routed.idempotencyKey) await recordAttemptOutcome(tx, routed.idempotencyKey, outcome, latencyMs);
        if (outcome.status === 'succeeded') {
          await markInvoicePaid(tx, request.invoiceId, amount, request.attemptedAt);
          await postJournalEntry(
            tx,
            paymentReceivedEntry({
              idempotencyKey: routed.idempotencyKey ?? idempotencyKey,
              invoiceId: request.invoiceId,
              gateway: outcome.gateway,
              currency: request.currency,
              amount,
              receivedAt: request.attemptedAt,
            }),
          );
        }
      });
      if (outcome.status === 'gateway_error') {
        // Nothing could be settled (every gateway failed, or a charge's fate is unknown):
        // retrying with the same key is safe, the retry looks before it charges.
        throw ApplicationFailure.retryable(`${outcome.gateway}: ${outcome.message}`, 'GatewayError');
      }
      const result = toResult(outcome);
      return result.outcome === 'succeeded' ? { ...result, amount } : result;
    },
  };

  /** The subscription's own method first, then the customer's other saved methods as backups. */
  async function paymentMethodsForCharge(request: ChargeInvoiceRequest): Promise<PaymentMethod[]> {
    const customer = await findCustomer(pool, request.customerId);
    const saved = await listPaymentMethods(pool, request.customerId);
    const withCustomer = (gateway: GatewayName, token: string, role: 'default' | 'backup'): PaymentMethod => ({
      gateway,
      token,
      role,
      ...(gateway === 'stripe' && (request.gatewayCustomerId ?? customer?.stripe_customer_id)
        ? { gatewayCustomerId: (request.gatewayCustomerId ?? customer?.stripe_customer_id)! }
        : {}),
    });
    return [
      withCustomer(gatewayOfToken(request.paymentMethodToken), request.paymentMethodToken, 'default'),
      ...saved.filter((m) => m.token !== request.paymentMethodToken).map((m) => withCustomer(m.gateway, m.token, 'backup')),
    ];
  }
}

/** What the retry model learns from, recorded on every row of the attempt (failover rows too). */
function attemptFacts(request: ChargeInvoiceRequest) {
  return {
    trigger: request.trigger ?? null,
    retryNumber: request.retryNumber ?? null,
    retryReason: request.retryReason ?? null,
    attemptedAt: request.attemptedAt,
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
