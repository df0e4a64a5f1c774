// Stripe adapter behind the Gateway interface: one off-session PaymentIntent per invoice attempt,
// confirmed at once, with the caller's idempotency key; refunds against that PaymentIntent.
// Stripe's answers and errors are turned into ChargeOutcome / RefundOutcome values; only
// programming or configuration faults are thrown.
import Stripe from 'stripe';
import type { ChargeOutcome, ChargeRequest, CreateCustomerRequest, Gateway, RefundOutcome, RefundReason, RefundRequest } from './gateway';

export interface StripeGatewayConfig {
  readonly apiKey: string;
  /** Only for test peers (stripe-simulator, stripe-mock); production uses Stripe's default. */
  readonly host?: string;
  readonly port?: number;
  readonly protocol?: 'http' | 'https';
  /** Per request; past it the outcome is ambiguous (the charge may still happen at Stripe). */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 20_000;

// Stripe PaymentMethod ids are pm_ followed by letters, digits and underscores. Anything else
// (above all a card number) is refused before it can leave the process or reach a log.
const PAYMENT_METHOD_TOKEN = /^pm_\w+$/;

export function createStripeGateway(config: StripeGatewayConfig): Gateway {
  const stripe = new Stripe(config.apiKey, {
    host: config.host,
    port: config.port,
    protocol: config.protocol,
    timeout: config.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    // Retries belong to Temporal's activity retry policy, which reuses the same idempotency key.
    // (The SDK still retries once, by itself, when the connection is reset: safe with the key.)
    maxNetworkRetries: 0,
    telemetry: false,
  });

  return {
    name: 'stripe',
    createCustomer: (request) => createCustomer(stripe, request),
    charge: (request) => charge(stripe, request),
    findCharge: (idempotencyKey) => findCharge(stripe, idempotencyKey),
    // With the request at hand the recent list narrows to the customer's own PaymentIntents.
    resolveCharge: (request) => findCharge(stripe, request.idempotencyKey, request.gatewayCustomerId),
    refund: (request) => refund(stripe, request),
  };
}

async function createCustomer(stripe: Stripe, request: CreateCustomerRequest): Promise<{ gatewayCustomerId: string }> {
  const customer = await stripe.customers.create(
    { email: request.email, name: request.name, metadata: { customer_id: request.customerId } },
    { idempotencyKey: request.idempotencyKey },
  );
  return { gatewayCustomerId: customer.id };
}

async function charge(stripe: Stripe, request: ChargeRequest): Promise<ChargeOutcome> {
  if (!PAYMENT_METHOD_TOKEN.test(request.paymentMethodToken)) {
    // The value is deliberately left out of the message: it might be card data.
    throw new Error('Stripe charge refused: paymentMethodToken must be a Stripe PaymentMethod id (pm_...)');
  }
  try {
    const paymentIntent = await stripe.paymentIntents.create(
      {
        amount: request.amount.amount,
        currency: request.amount.currency.toLowerCase(),
        customer: request.gatewayCustomerId,
        payment_method: request.paymentMethodToken,
        confirm: true,
        off_session: true,
        description: request.description,
        // The key is copied into metadata so that findCharge can resolve an ambiguous outcome.
        metadata: { ...request.metadata, idempotency_key: request.idempotencyKey },
      },
      { idempotencyKey: request.idempotencyKey },
    );
    return outcomeOfPaymentIntent(paymentIntent);
  } catch (error) {
    return outcomeOfError(error);
  }
}

/**
 * Stripe's search is eventually consistent: Stripe documents data as searchable within about a
 * minute and warns against search in read-after-write flows, which is exactly what resolving a
 * lost answer is. Lists are consistent. So the PaymentIntents of the last minutes (the
 * customer's, when known) are listed, and search covers everything older. Trusting search alone
 * would report "no charge" for a charge made seconds ago, and the router would then fail over
 * and charge the customer a second time on another gateway.
 */
const SEARCH_LAG_ALLOWANCE_SECONDS = 15 * 60;
/** Past this many recent PaymentIntents to scan, the answer is "cannot tell" rather than a guess. */
const RECENT_SCAN_LIMIT = 1_000;

async function findCharge(stripe: Stripe, idempotencyKey: string, gatewayCustomerId?: string): Promise<ChargeOutcome | null> {
  const recent = await recentWithKey(stripe, idempotencyKey, gatewayCustomerId);
  const indexed = await stripe.paymentIntents.search({
    query: `metadata['idempotency_key']:'${escapeSearchValue(idempotencyKey)}'`,
  });
  const best = mostDecisive([...recent.matches, ...indexed.data]);
  if (best) return outcomeOfPaymentIntent(best);
  if (!recent.complete) {
    return { status: 'gateway_error', gateway: 'stripe', ambiguous: true, message: `more than ${RECENT_SCAN_LIMIT} recent PaymentIntents to scan for ${idempotencyKey}` };
  }
  return null;
}

async function recentWithKey(stripe: Stripe, idempotencyKey: string, gatewayCustomerId?: string): Promise<{ matches: Stripe.PaymentIntent[]; complete: boolean }> {
  const matches: Stripe.PaymentIntent[] = [];
  let scanned = 0;
  const recent = stripe.paymentIntents.list({
    created: { gte: Math.floor(Date.now() / 1000) - SEARCH_LAG_ALLOWANCE_SECONDS },
    limit: 100,
    ...(gatewayCustomerId ? { customer: gatewayCustomerId } : {}),
  });
  for await (const paymentIntent of recent) {
    if (paymentIntent.metadata?.idempotency_key === idempotencyKey) matches.push(paymentIntent);
    scanned += 1;
    if (scanned >= RECENT_SCAN_LIMIT) return { matches, complete: false };
  }
  return { matches, complete: true };
}

function escapeSearchValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/'/g, "\\'");
}

// One idempotency key makes at most one PaymentIntent; should there ever be several, money that
// moved (or may be moving) is what the caller must learn about.
const STATUS_PRIORITY: readonly Stripe.PaymentIntent.Status[] = ['succeeded', 'processing', 'requires_action'];

function mostDecisive(paymentIntents: Stripe.PaymentIntent[]): Stripe.PaymentIntent | undefined {
  for (const status of STATUS_PRIORITY) {
    const found = paymentIntents.find((pi) => pi.status === status);
    if (found) return found;
  }
  return paymentIntents[0];
}

function outcomeOfPaymentIntent(pi: Stripe.PaymentIntent): ChargeOutcome {
  switch (pi.status) {
    case 'succeeded':
      return { status: 'succeeded', gateway: 'stripe', reference: pi.id };
    case 'requires_action':
      return { status: 'requires_action', gateway: 'stripe', reference: pi.id };
    case 'processing':
      return { status: 'gateway_error', gateway: 'stripe', ambiguous: true, message: `PaymentIntent ${pi.id} is still processing` };
    case 'requires_payment_method':
      return outcomeOfFailedAttempt(pi);
    default:
      // requires_confirmation, requires_capture, canceled: not states this adapter creates.
      return { status: 'gateway_error', gateway: 'stripe', ambiguous: false, message: `PaymentIntent ${pi.id} is ${pi.status}` };
  }
}

/** A confirmed PaymentIntent back in requires_payment_method: its last attempt was declined. */
function outcomeOfFailedAttempt(pi: Stripe.PaymentIntent): ChargeOutcome {
  const error = pi.last_payment_error;
  return declinedOutcome(error?.code, error?.decline_code, error?.message ?? 'The payment was declined.', pi.id);
}

function declinedOutcome(code: string | undefined, declineCode: string | undefined, message: string, reference: string | undefined): ChargeOutcome {
  // Off-session, a card that needs 3-D Secure fails with authentication_required instead of
  // leaving the PaymentIntent in requires_action; for the business both mean "customer must act".
  if (code === 'authentication_required' && reference !== undefined) {
    return { status: 'requires_action', gateway: 'stripe', reference };
  }
  // `||` and not `??`: the SDK sets decline_code to '' on card errors that have none.
  const normalized = declineCode || code || 'generic_decline';
  return { status: 'declined', gateway: 'stripe', declineCode: normalized, message, ...(reference ? { reference } : {}) };
}

function outcomeOfError(error: unknown): ChargeOutcome {
  const { errors } = Stripe;
  if (error instanceof errors.StripeCardError) {
    return declinedOutcome(error.code, error.decline_code, error.message, error.payment_intent?.id);
  }
  if (error instanceof errors.StripeConnectionError) {
    // Timeout, reset or lost response: the request may have reached Stripe and charged.
    return { status: 'gateway_error', gateway: 'stripe', ambiguous: true, message: error.message };
  }
  if (error instanceof errors.StripeRateLimitError) {
    // Refused before any work was done.
    return { status: 'gateway_error', gateway: 'stripe', ambiguous: false, message: error.message };
  }
  if (error instanceof errors.StripeAPIError) {
    // 5xx (and 409 for a concurrent request with the same key): Stripe may have charged.
    return { status: 'gateway_error', gateway: 'stripe', ambiguous: true, message: error.message };
  }
  if (error instanceof errors.StripeInvalidRequestError && error.code === 'resource_missing' && error.param === 'payment_method') {
    // A detached or deleted saved card: the customer must supply a new one, like a decline.
    return { status: 'declined', gateway: 'stripe', declineCode: 'invalid_payment_method', message: error.message };
  }
  // Authentication, permission, idempotency and other invalid requests are faults in our code
  // or configuration, not business outcomes.
  throw error;
}

// ---------------------------------------------------------------------------------------------
// Refunds

// Stripe knows three reasons; ours that it does not know go as requested_by_customer, and the
// exact one travels in metadata for the dashboard and reports.
const STRIPE_REFUND_REASONS: Readonly<Record<RefundReason, Stripe.RefundCreateParams.Reason>> = {
  requested_by_customer: 'requested_by_customer',
  duplicate: 'duplicate',
  fraudulent: 'fraudulent',
  service_not_delivered: 'requested_by_customer',
};

async function refund(stripe: Stripe, request: RefundRequest): Promise<RefundOutcome> {
  if (!Number.isSafeInteger(request.amount) || request.amount <= 0) {
    throw new RangeError(`a refund must be a positive integer of minor units, got ${request.amount}`);
  }
  let created: Stripe.Refund;
  try {
    created = await stripe.refunds.create(
      {
        payment_intent: request.gatewayReference,
        amount: request.amount,
        reason: STRIPE_REFUND_REASONS[request.reason],
        metadata: { ...request.metadata, refund_reason: request.reason, idempotency_key: request.idempotencyKey },
      },
      { idempotencyKey: request.idempotencyKey },
    );
  } catch (error) {
    return refundOutcomeOfError(error);
  }
  if (created.currency.toUpperCase() !== request.currency) {
    // Stripe refunds in the charge's currency: a mismatch means we named the wrong payment.
    throw new Error(`Stripe refunded ${created.id} in ${created.currency}, not ${request.currency}: wrong payment reference?`);
  }
  return outcomeOfRefund(created);
}

function outcomeOfRefund(refund: Stripe.Refund): RefundOutcome {
  switch (refund.status) {
    case 'succeeded':
      return { outcome: 'succeeded', gateway: 'stripe', reference: refund.id };
    case 'failed':
    case 'canceled':
      return {
        outcome: 'failed',
        gateway: 'stripe',
        reference: refund.id,
        code: refund.failure_reason ?? refund.status,
        message: `Stripe refund ${refund.id} is ${refund.status}${refund.failure_reason ? ` (${refund.failure_reason})` : ''}`,
      };
    default:
      // pending, requires_action: Stripe settles it later and tells by webhook (or a replay).
      return { outcome: 'pending', gateway: 'stripe', reference: refund.id, message: `Stripe refund ${refund.id} is ${refund.status ?? 'pending'}` };
  }
}

function refundOutcomeOfError(error: unknown): RefundOutcome {
  const { errors } = Stripe;
  if (error instanceof errors.StripeConnectionError || error instanceof errors.StripeAPIError || error instanceof errors.StripeRateLimitError) {
    // No answer, a 5xx or a 429: Stripe may or may not have refunded; the same key will tell.
    return { outcome: 'pending', gateway: 'stripe', reference: null, message: error.message };
  }
  if (error instanceof errors.StripeInvalidRequestError) {
    // charge_already_refunded, amount_too_large, resource_missing, charge_disputed, ...: refused,
    // and Stripe does not refund later under this key.
    return { outcome: 'failed', gateway: 'stripe', reference: null, code: error.code ?? 'invalid_request', message: error.message };
  }
  // Authentication, permission, a key reused with other parameters: faults in our code or
  // configuration, not business outcomes.
  throw error;
}
