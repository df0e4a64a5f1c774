// The payment router (gateways/router.ts) with the REAL adapters: Stripe (gateways/stripe.ts)
// against the Stripe simulator in front of stripe-mock, PayPal (gateways/paypal.ts) against the
// PayPal sandbox. Money is counted at both peers: a failover charges exactly once, a charge
// whose answer was lost is never made again anywhere.
import { createPayPalGateway } from '../../gateways/paypal';
import { createPaymentRouter, routeKeys, type PaymentMethod, type PaymentRouter, type RoutedChargeRequest, type RoutedChargeResult } from '../../gateways/router';
import { createStripeGateway } from '../../gateways/stripe';
import type { Gateway } from '../../gateways/gateway';
import { PAYPAL_TEST_TOKENS, startPayPalSandbox, type PayPalSandbox } from '../peers/paypal-sandbox';
import { startStripeSimulator, type StripeSimulator } from '../peers/stripe-simulator';

const STRIPE_MOCK_URL = process.env.STRIPE_MOCK_URL ?? 'http://127.0.0.1:12111';
const TIMEOUT_MS = 500;
const RESET_TIMEOUT_MS = 400;

const STRIPE_CARD: PaymentMethod = { gateway: 'stripe', token: 'pm_card_visa', role: 'default' };
const PAYPAL_WALLET: PaymentMethod = { gateway: 'paypal', token: PAYPAL_TEST_TOKENS.success, role: 'backup' };

let stripeSimulator: StripeSimulator;
let paypalSandbox: PayPalSandbox;
let stripe: Gateway;
let paypal: Gateway;
let router: PaymentRouter;
let keyCounter = 0;

function chargeRequest(paymentMethods: readonly PaymentMethod[], overrides: Partial<RoutedChargeRequest> = {}): RoutedChargeRequest {
  keyCounter += 1;
  return {
    amount: { amount: 9700, currency: 'USD' },
    idempotencyKey: `inv_router_${keyCounter}:attempt-1`,
    description: 'Pro plan, November',
    metadata: { invoice_id: `inv_router_${keyCounter}` },
    paymentMethods,
    ...overrides,
  };
}

/** What each peer has charged: Stripe succeeded PaymentIntents, PayPal completed captures. */
function money(): { stripe: string[]; paypal: string[] } {
  return {
    stripe: stripeSimulator.charges().map((c) => `${c.idempotencyKey} ${c.amount} ${c.currency}`),
    paypal: paypalSandbox.captures().map((c) => `${c.customId} ${c.amount} ${c.currency}`),
  };
}

function stepsOf(result: RoutedChargeResult): string[] {
  return result.steps.map((step) => {
    switch (step.action) {
      case 'charge': {
        const { status } = step.outcome;
        const ambiguity = step.outcome.status === 'gateway_error' ? (step.outcome.ambiguous ? ' ambiguous' : ' clear') : '';
        return `charge ${step.gateway} ${status}${ambiguity}`;
      }
      case 'lookup':
        return `lookup ${step.gateway} ${step.result}`;
      case 'failover':
        return `failover ${step.from}->${step.to} ${step.reason}`;
      case 'circuit_open':
        return `circuit_open ${step.gateway}`;
    }
  });
}

function metricLine(text: string, prefix: string): string | undefined {
  return text.split('\n').find((line) => line.startsWith(prefix));
}

beforeAll(async () => {
  stripeSimulator = await startStripeSimulator({ stripeMockUrl: STRIPE_MOCK_URL });
  paypalSandbox = await startPayPalSandbox();
  // Fail fast with a clear message when stripe-mock is not running.
  const probe = await fetch(`${STRIPE_MOCK_URL}/v1/customers`, { headers: { Authorization: 'Bearer sk_test_probe' } }).catch(() => null);
  if (!probe?.ok) throw new Error(`stripe-mock is not answering at ${STRIPE_MOCK_URL} (see TOOLCHAIN.md)`);
});

afterAll(async () => {
  await Promise.all([stripeSimulator.close(), paypalSandbox.close()]);
});

beforeEach(() => {
  stripeSimulator.reset();
  paypalSandbox.reset();
  // New adapters, breakers and metrics per test: like a fresh worker.
  stripe = createStripeGateway({ apiKey: 'sk_test_router', host: '127.0.0.1', port: stripeSimulator.port, protocol: 'http', timeoutMs: TIMEOUT_MS });
  paypal = createPayPalGateway({ clientId: paypalSandbox.clientId, clientSecret: paypalSandbox.clientSecret, baseUrl: paypalSandbox.url, timeoutMs: TIMEOUT_MS });
  router = createPaymentRouter({
    gateways: [stripe, paypal],
    circuitBreaker: { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeout: RESET_TIMEOUT_MS },
  });
});

afterEach(() => router.shutdown());

describe('routing', () => {
  it('derives one key per payment method from the list alone, defaults first', () => {
    const methods: PaymentMethod[] = [
      { gateway: 'paypal', token: 'pp_vault_success_b', role: 'backup' },
      { gateway: 'stripe', token: 'pm_card_visa', role: 'default' },
      { gateway: 'stripe', token: 'pm_card_mastercard', role: 'backup' },
      { gateway: 'stripe', token: 'pm_card_amex', role: 'backup' },
      { gateway: 'stripe', token: 'pm_card_visa', role: 'default' },
    ];
    expect(routeKeys('inv_1:attempt-2', methods).map((r) => `${r.method.token} ${r.idempotencyKey}`)).toEqual([
      'pm_card_visa inv_1:attempt-2',
      'pp_vault_success_b inv_1:attempt-2:paypal',
      'pm_card_mastercard inv_1:attempt-2:stripe',
      'pm_card_amex inv_1:attempt-2:stripe-2',
    ]);
  });

  it('charges the default method on a healthy primary and nothing else', async () => {
    const request = chargeRequest([STRIPE_CARD, PAYPAL_WALLET]);
    const result = await router.charge(request);
    expect(result.outcome).toMatchObject({ status: 'succeeded', gateway: 'stripe' });
    expect(result.chargedBy).toBe('stripe');
    expect(result.idempotencyKey).toBe(request.idempotencyKey);
    expect(stepsOf(result)).toEqual(['charge stripe succeeded']);
    expect(money()).toEqual({ stripe: [`${request.idempotencyKey} 9700 usd`], paypal: [] });
    expect(paypalSandbox.requests()).toHaveLength(0);
  });

  it('routes by currency: a gateway that cannot take the currency is skipped, keys stay put', async () => {
    const gbpRouter = createPaymentRouter({ gateways: [stripe, paypal], currencies: { paypal: ['USD', 'EUR'] } });
    try {
      const request = chargeRequest([{ ...PAYPAL_WALLET, role: 'default' }, { ...STRIPE_CARD, role: 'backup' }], { amount: { amount: 4500, currency: 'GBP' } });
      const result = await gbpRouter.charge(request);
      expect(result.chargedBy).toBe('stripe');
      expect(result.idempotencyKey).toBe(`${request.idempotencyKey}:stripe`);
      expect(money()).toEqual({ stripe: [`${request.idempotencyKey}:stripe 4500 gbp`], paypal: [] });
    } finally {
      gbpRouter.shutdown();
    }
  });
});

describe('failover', () => {
  it('primary answers 500: nothing charged there, the backup on PayPal is charged exactly once', async () => {
    stripeSimulator.failNext(1, 'server_error');
    const request = chargeRequest([STRIPE_CARD, PAYPAL_WALLET]);
    const result = await router.charge(request);

    expect(result.outcome).toEqual({ status: 'succeeded', gateway: 'paypal', reference: paypalSandbox.captures()[0]!.id });
    expect(result.chargedBy).toBe('paypal');
    expect(result.paymentMethod).toEqual(PAYPAL_WALLET);
    expect(result.idempotencyKey).toBe(`${request.idempotencyKey}:paypal`);
    // Stripe's 5xx may have charged: it is looked up before PayPal is touched.
    expect(stepsOf(result)).toEqual([
      'charge stripe gateway_error ambiguous',
      'lookup stripe not_found',
      'failover stripe->paypal gateway_error',
      'charge paypal succeeded',
    ]);
    expect(money()).toEqual({ stripe: [], paypal: [`${request.idempotencyKey}:paypal 97.00 USD`] });
    expect(paypalSandbox.captures()[0]!.requestId).toBe(`${request.idempotencyKey}:paypal:capture`);

    // The activity retries (its result was lost): the earlier failover is found, nobody is charged again.
    const retried = await router.charge({ ...request, mayHaveBeenAttempted: true });
    expect(retried.outcome).toEqual(result.outcome);
    expect(stepsOf(retried)).toEqual(['lookup paypal found']);
    expect(money()).toEqual({ stripe: [], paypal: [`${request.idempotencyKey}:paypal 97.00 USD`] });
  });

  it('primary times out without charging: PayPal is charged exactly once', async () => {
    stripeSimulator.failNext(1, 'timeout');
    const request = chargeRequest([STRIPE_CARD, PAYPAL_WALLET]);
    const result = await router.charge(request);
    expect(result.chargedBy).toBe('paypal');
    expect(stepsOf(result)).toEqual([
      'charge stripe gateway_error ambiguous',
      'lookup stripe not_found',
      'failover stripe->paypal gateway_error',
      'charge paypal succeeded',
    ]);
    expect(money()).toEqual({ stripe: [], paypal: [`${request.idempotencyKey}:paypal 97.00 USD`] });
  });

  it('primary charged but its answer was lost: the look-up finds it, no second charge anywhere', async () => {
    // The simulator's search lags a minute behind writes, as Stripe's does: a look-up that
    // trusted search alone would see nothing here, fail over and charge the PayPal backup too.
    // Two lost answers: the original and the Stripe SDK's own single retry on a reset connection.
    stripeSimulator.failNext(2, 'lost_response');
    const request = chargeRequest([STRIPE_CARD, PAYPAL_WALLET]);
    const result = await router.charge(request);

    const [charge] = stripeSimulator.charges();
    expect(result.outcome).toEqual({ status: 'succeeded', gateway: 'stripe', reference: charge!.id });
    expect(result.chargedBy).toBe('stripe');
    expect(stepsOf(result)).toEqual(['charge stripe gateway_error ambiguous', 'lookup stripe found']);
    expect(money()).toEqual({ stripe: [`${request.idempotencyKey} 9700 usd`], paypal: [] });
    expect(paypalSandbox.requests()).toHaveLength(0);
  });

  it('a retried activity after a Stripe backup was charged moments ago: found by the list, the PayPal primary is not charged', async () => {
    // First call: PayPal refuses to create the order (nothing charged), the Stripe backup takes
    // the money, and the activity's answer is lost with the worker. The retry looks the backup up
    // seconds later, long before Stripe's search would show it.
    paypalSandbox.failNext(1, 'server_error', 'create_order');
    const request = chargeRequest([{ ...PAYPAL_WALLET, role: 'default' }, { ...STRIPE_CARD, role: 'backup' }]);
    const first = await router.charge(request);
    expect(first.chargedBy).toBe('stripe');

    const retried = await router.charge({ ...request, mayHaveBeenAttempted: true });
    expect(retried.outcome).toEqual(first.outcome);
    expect(stepsOf(retried)).toEqual(['lookup stripe found']);
    expect(money()).toEqual({ stripe: [`${request.idempotencyKey}:stripe 9700 usd`], paypal: [] });
  });

  it('PayPal as primary: a capture whose answer was lost is found by replaying the create, Stripe untouched', async () => {
    paypalSandbox.failNext(1, 'lost_response', 'capture_order');
    const request = chargeRequest([{ ...PAYPAL_WALLET, role: 'default' }, { ...STRIPE_CARD, role: 'backup' }]);
    const result = await router.charge(request);
    expect(result.chargedBy).toBe('paypal');
    expect(result.outcome).toEqual({ status: 'succeeded', gateway: 'paypal', reference: paypalSandbox.captures()[0]!.id });
    expect(stepsOf(result)).toEqual(['charge paypal gateway_error ambiguous', 'lookup paypal found']);
    expect(money()).toEqual({ stripe: [], paypal: [`${request.idempotencyKey} 97.00 USD`] });
    expect(paypalSandbox.requests().filter((r) => r.endpoint === 'capture_order')).toHaveLength(1);
  });

  it('when the look-up itself fails, it does not fail over: ambiguous, and a retry settles it on the primary', async () => {
    paypalSandbox.failNext(1, 'lost_response', 'capture_order');
    paypalSandbox.failNext(1, 'server_error', 'create_order', { skip: 1 }); // the look-up's replayed create, not the charge's
    const request = chargeRequest([{ ...PAYPAL_WALLET, role: 'default' }, { ...STRIPE_CARD, role: 'backup' }]);
    const result = await router.charge(request);
    expect(result.outcome).toMatchObject({ status: 'gateway_error', gateway: 'paypal', ambiguous: true });
    expect(result.chargedBy).toBeNull();
    expect(stepsOf(result)).toEqual(['charge paypal gateway_error ambiguous', 'lookup paypal unknown']);
    expect(money()).toEqual({ stripe: [], paypal: [`${request.idempotencyKey} 97.00 USD`] });

    const retried = await router.charge({ ...request, mayHaveBeenAttempted: true });
    expect(retried.chargedBy).toBe('paypal');
    expect(stepsOf(retried)).toEqual(['lookup stripe not_found', 'charge paypal succeeded']);
    expect(money()).toEqual({ stripe: [], paypal: [`${request.idempotencyKey} 97.00 USD`] });
  });

  it('without a backup on another gateway, a gateway failure is returned, cleared of ambiguity once looked up', async () => {
    stripeSimulator.failNext(1, 'server_error');
    const result = await router.charge(chargeRequest([STRIPE_CARD]));
    expect(result.outcome).toMatchObject({ status: 'gateway_error', gateway: 'stripe', ambiguous: false });
    expect(result.chargedBy).toBeNull();
    expect(stepsOf(result)).toEqual(['charge stripe gateway_error ambiguous', 'lookup stripe not_found']);
    expect(money()).toEqual({ stripe: [], paypal: [] });
  });
});

describe('circuit breaker', () => {
  it('opens after the configured failures, half-opens after resetTimeout, closes on a successful trial', async () => {
    const methods = [STRIPE_CARD, PAYPAL_WALLET];
    stripeSimulator.failNext(3, 'server_error');
    for (let i = 0; i < 3; i += 1) {
      expect((await router.charge(chargeRequest(methods))).chargedBy).toBe('paypal');
    }
    // 3 calls (volumeThreshold) at 100% failures (> 50%): open.
    expect(router.circuitState('stripe')).toBe('open');
    expect(router.circuitState('paypal')).toBe('closed');
    expect(metricLine(await router.metrics.text(), 'billing_gateway_circuit_state{gateway="stripe"}')).toBe('billing_gateway_circuit_state{gateway="stripe"} 2');

    // Open: Stripe is not called (it would have succeeded: no fault is left), the key is looked up, PayPal pays.
    const whileOpen = chargeRequest(methods);
    const skipped = await router.charge(whileOpen);
    expect(skipped.chargedBy).toBe('paypal');
    expect(stepsOf(skipped)).toEqual(['circuit_open stripe', 'lookup stripe not_found', 'failover stripe->paypal circuit_open', 'charge paypal succeeded']);
    expect(stripeSimulator.charges()).toHaveLength(0);

    await new Promise((resolve) => setTimeout(resolve, RESET_TIMEOUT_MS + 100));
    expect(router.circuitState('stripe')).toBe('half_open');
    expect(metricLine(await router.metrics.text(), 'billing_gateway_circuit_state{gateway="stripe"}')).toBe('billing_gateway_circuit_state{gateway="stripe"} 1');

    const trial = chargeRequest(methods);
    const recovered = await router.charge(trial);
    expect(recovered.chargedBy).toBe('stripe');
    expect(router.circuitState('stripe')).toBe('closed');
    expect(metricLine(await router.metrics.text(), 'billing_gateway_circuit_state{gateway="stripe"}')).toBe('billing_gateway_circuit_state{gateway="stripe"} 0');
    expect(money().stripe).toEqual([`${trial.idempotencyKey} 9700 usd`]);
    expect(money().paypal).toHaveLength(4);
  });

  it('a failed half-open trial opens the circuit again', async () => {
    const methods = [STRIPE_CARD, PAYPAL_WALLET];
    stripeSimulator.failNext(4, 'server_error');
    for (let i = 0; i < 3; i += 1) await router.charge(chargeRequest(methods));
    expect(router.circuitState('stripe')).toBe('open');
    await new Promise((resolve) => setTimeout(resolve, RESET_TIMEOUT_MS + 100));
    expect(router.circuitState('stripe')).toBe('half_open');
    const trial = await router.charge(chargeRequest(methods));
    expect(stepsOf(trial)[0]).toBe('charge stripe gateway_error ambiguous');
    expect(trial.chargedBy).toBe('paypal');
    expect(router.circuitState('stripe')).toBe('open');
    expect(money()).toMatchObject({ stripe: [] });
    expect(money().paypal).toHaveLength(4);
  });

  it('a retried charge while the circuit is open still finds what an earlier attempt charged on that gateway', async () => {
    const methods = [STRIPE_CARD, PAYPAL_WALLET];
    const earlier = chargeRequest(methods);
    expect((await router.charge(earlier)).chargedBy).toBe('stripe');
    stripeSimulator.failNext(3, 'server_error');
    for (let i = 0; i < 3; i += 1) await router.charge(chargeRequest(methods));
    expect(router.circuitState('stripe')).toBe('open');

    const retried = await router.charge({ ...earlier, mayHaveBeenAttempted: true });
    expect(retried.chargedBy).toBe('stripe');
    expect(stepsOf(retried)).toEqual(['lookup paypal not_found', 'circuit_open stripe', 'lookup stripe found']);
    expect(money().stripe).toEqual([`${earlier.idempotencyKey} 9700 usd`]);
  });
});

describe('declines', () => {
  it('a hard decline moves to the backup method, never the same card elsewhere', async () => {
    const declinedCard: PaymentMethod = { gateway: 'stripe', token: 'pm_card_chargeDeclined', role: 'default' };
    const request = chargeRequest([declinedCard, PAYPAL_WALLET]);
    const result = await router.charge(request);
    expect(result.chargedBy).toBe('paypal');
    expect(result.paymentMethod).toEqual(PAYPAL_WALLET);
    expect(stepsOf(result)).toEqual(['charge stripe declined', 'failover stripe->paypal declined', 'charge paypal succeeded']);
    expect(money()).toEqual({ stripe: [], paypal: [`${request.idempotencyKey}:paypal 97.00 USD`] });
  });

  it('a hard decline without a backup method is returned as it is', async () => {
    const declinedCard: PaymentMethod = { gateway: 'stripe', token: 'pm_card_chargeDeclinedInsufficientFunds', role: 'default' };
    const result = await router.charge(chargeRequest([declinedCard]));
    expect(result.outcome).toMatchObject({ status: 'declined', gateway: 'stripe', declineCode: 'insufficient_funds' });
    expect(result.chargedBy).toBeNull();
    expect(result.paymentMethod).toEqual(declinedCard);
    expect(stepsOf(result)).toEqual(['charge stripe declined']);
    expect(money()).toEqual({ stripe: [], paypal: [] });
    expect(paypalSandbox.requests()).toHaveLength(0);
  });

  it('a backup card on the same gateway is tried under its own key', async () => {
    const methods: PaymentMethod[] = [
      { gateway: 'stripe', token: 'pm_card_chargeDeclinedLostCard', role: 'default' },
      { gateway: 'stripe', token: 'pm_card_mastercard', role: 'backup' },
      PAYPAL_WALLET,
    ];
    const request = chargeRequest(methods);
    const result = await router.charge(request);
    expect(result.chargedBy).toBe('stripe');
    expect(result.idempotencyKey).toBe(`${request.idempotencyKey}:stripe`);
    expect(stepsOf(result)).toEqual(['charge stripe declined', 'failover stripe->stripe declined', 'charge stripe succeeded']);
    expect(money()).toEqual({ stripe: [`${request.idempotencyKey}:stripe 9700 usd`], paypal: [] });
  });

  it('when every method declines, the last decline stands', async () => {
    const methods: PaymentMethod[] = [
      { gateway: 'paypal', token: PAYPAL_TEST_TOKENS.declined, role: 'default' },
      { gateway: 'stripe', token: 'pm_card_chargeDeclinedExpiredCard', role: 'backup' },
    ];
    const result = await router.charge(chargeRequest(methods));
    expect(result.outcome).toMatchObject({ status: 'declined', gateway: 'stripe', declineCode: 'expired_card' });
    expect(result.paymentMethod).toEqual(methods[1]);
    expect(stepsOf(result)).toEqual(['charge paypal declined', 'failover paypal->stripe declined', 'charge stripe declined']);
    expect(money()).toEqual({ stripe: [], paypal: [] });
  });

  it('requires_action stops the route: the backup is not charged while the customer may still authenticate', async () => {
    const request = chargeRequest([{ ...PAYPAL_WALLET, token: PAYPAL_TEST_TOKENS.payerActionRequired, role: 'default' }, { ...STRIPE_CARD, role: 'backup' }]);
    const result = await router.charge(request);
    expect(result.outcome).toMatchObject({ status: 'requires_action', gateway: 'paypal' });
    expect(money()).toEqual({ stripe: [], paypal: [] });
  });
});

describe('metrics', () => {
  it('counts attempts, successes, declines, failovers, look-ups, circuit state and latency', async () => {
    stripeSimulator.failNext(1, 'server_error');
    await router.charge(chargeRequest([STRIPE_CARD, PAYPAL_WALLET]));
    await router.charge(chargeRequest([{ ...STRIPE_CARD, token: 'pm_card_chargeDeclined' }]));
    await router.charge(chargeRequest([STRIPE_CARD]));

    const text = await router.metrics.text();
    const expected = [
      'billing_payment_attempts_total{gateway="stripe",outcome="gateway_error"} 1',
      'billing_payment_attempts_total{gateway="stripe",outcome="declined"} 1',
      'billing_payment_attempts_total{gateway="stripe",outcome="succeeded"} 1',
      'billing_payment_attempts_total{gateway="paypal",outcome="succeeded"} 1',
      'billing_payment_successes_total{gateway="paypal"} 1',
      'billing_payment_successes_total{gateway="stripe"} 1',
      'billing_payment_declines_total{gateway="stripe",decline_code="generic_decline"} 1',
      'billing_payment_gateway_errors_total{gateway="stripe",ambiguous="true"} 1',
      'billing_payment_failovers_total{from="stripe",to="paypal",reason="gateway_error"} 1',
      'billing_payment_lookups_total{gateway="stripe",result="not_found"} 1',
      'billing_gateway_circuit_state{gateway="stripe"} 0',
      'billing_gateway_circuit_state{gateway="paypal"} 0',
      'billing_gateway_request_duration_seconds_count{gateway="stripe",operation="charge"} 3',
      'billing_gateway_request_duration_seconds_count{gateway="paypal",operation="charge"} 1',
      'billing_gateway_request_duration_seconds_count{gateway="stripe",operation="find_charge"} 1',
    ];
    const lines = text.split('\n');
    for (const line of expected) expect(lines).toContain(line);
    expect(text).toContain('# TYPE billing_gateway_request_duration_seconds histogram');
  });
});
