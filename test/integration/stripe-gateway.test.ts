// The Stripe adapter against the Stripe simulator, which first has every request validated by a
// real stripe-mock (Stripe's OpenAPI-driven mock) at STRIPE_MOCK_URL.
import Stripe from 'stripe';
import { money } from '../../domain/money';
import type { ChargeRequest, Gateway } from '../../gateways/gateway';
import { createStripeGateway } from '../../gateways/stripe';
import { startStripeSimulator, stripeSimulatorAdmin, type StripeSimulator } from '../peers/stripe-simulator';

const STRIPE_MOCK_URL = process.env.STRIPE_MOCK_URL ?? 'http://127.0.0.1:12111';
const API_KEY = 'sk_test_durablebilling';

let simulator: StripeSimulator;
let gateway: Gateway;
/** The raw SDK, to look at what the simulator holds and at Stripe-level details. */
let stripe: Stripe;
let customerId: string;
let keySequence = 0;

function gatewayWith(timeoutMs: number, apiKey = API_KEY): Gateway {
  return createStripeGateway({ apiKey, host: '127.0.0.1', port: simulator.port, protocol: 'http', timeoutMs });
}

function chargeRequest(overrides: Partial<ChargeRequest> = {}): ChargeRequest {
  keySequence += 1;
  const invoiceId = `inv_${keySequence}`;
  return {
    amount: money(2500, 'USD'),
    gatewayCustomerId: customerId,
    paymentMethodToken: 'pm_card_visa',
    idempotencyKey: `${invoiceId}_attempt_1`,
    description: `Invoice ${invoiceId}`,
    metadata: { invoice_id: invoiceId },
    ...overrides,
  };
}

async function assertStripeMockRunning(): Promise<void> {
  try {
    const response = await fetch(`${STRIPE_MOCK_URL}/v1/customers`, { headers: { Authorization: `Bearer ${API_KEY}` } });
    if (response.ok) return;
    throw new Error(`status ${response.status}`);
  } catch (error) {
    throw new Error(`stripe-mock is not answering at ${STRIPE_MOCK_URL} (${(error as Error).message}); start it or set STRIPE_MOCK_URL`);
  }
}

beforeAll(async () => {
  await assertStripeMockRunning();
  simulator = await startStripeSimulator({ port: 0, stripeMockUrl: STRIPE_MOCK_URL });
  gateway = gatewayWith(5_000);
  stripe = new Stripe(API_KEY, { host: '127.0.0.1', port: simulator.port, protocol: 'http', maxNetworkRetries: 0 });
});

afterAll(async () => {
  await simulator?.close();
});

beforeEach(async () => {
  simulator.reset();
  customerId = (
    await gateway.createCustomer({ customerId: 'cust_42', email: 'ada@example.com', name: 'Ada Lovelace', idempotencyKey: `customer_${keySequence}` })
  ).gatewayCustomerId;
});

describe('charge outcomes', () => {
  it('charges a good card and records exactly what was sent', async () => {
    const request = chargeRequest();
    const outcome = await gateway.charge(request);

    expect(outcome).toEqual({ status: 'succeeded', gateway: 'stripe', reference: expect.stringMatching(/^pi_\w+$/) });
    expect(simulator.charges()).toEqual([
      {
        id: (outcome as { reference: string }).reference,
        amount: 2500,
        currency: 'usd',
        customer: customerId,
        paymentMethod: 'pm_card_visa',
        idempotencyKey: request.idempotencyKey,
        metadata: { invoice_id: request.metadata.invoice_id, idempotency_key: request.idempotencyKey },
        created: expect.any(Number),
      },
    ]);
    const pi = await stripe.paymentIntents.retrieve((outcome as { reference: string }).reference);
    expect(pi).toMatchObject({ status: 'succeeded', amount: 2500, amount_received: 2500, currency: 'usd', description: request.description });
  });

  it.each(['pm_card_mastercard', 'pm_card_amex', 'pm_1PgafyB7WZ01zgkW'])('charges %s', async (paymentMethodToken) => {
    const outcome = await gateway.charge(chargeRequest({ paymentMethodToken, amount: money(1999, 'EUR') }));
    expect(outcome.status).toBe('succeeded');
    expect(simulator.charges()).toEqual([expect.objectContaining({ amount: 1999, currency: 'eur', paymentMethod: paymentMethodToken })]);
  });

  const declines: [string, string, string][] = [
    ['pm_card_chargeDeclined', 'generic_decline', 'Your card was declined.'],
    ['pm_card_visa_chargeDeclined', 'generic_decline', 'Your card was declined.'],
    ['pm_card_chargeDeclinedInsufficientFunds', 'insufficient_funds', 'Your card has insufficient funds.'],
    ['pm_card_chargeDeclinedExpiredCard', 'expired_card', 'Your card has expired.'],
    ['pm_card_chargeDeclinedLostCard', 'lost_card', 'Your card was declined.'],
    ['pm_card_chargeDeclinedStolenCard', 'stolen_card', 'Your card was declined.'],
    ['pm_card_chargeDeclinedFraudulent', 'fraudulent', 'Your card was declined.'],
    ['pm_card_chargeDeclinedProcessingError', 'processing_error', 'An error occurred while processing your card. Try again in a little bit.'],
    ['pm_card_chargeDeclinedIncorrectCvc', 'incorrect_cvc', "Your card's security code is incorrect."],
  ];

  it.each(declines)('%s is declined with %s and nothing is charged', async (paymentMethodToken, declineCode, message) => {
    const request = chargeRequest({ paymentMethodToken });
    const outcome = await gateway.charge(request);

    expect(outcome).toEqual({ status: 'declined', gateway: 'stripe', declineCode, message, reference: expect.stringMatching(/^pi_/) });
    expect(simulator.charges()).toEqual([]);
    // The declined PaymentIntent exists, as at Stripe, and findCharge reports the same decline.
    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toEqual(outcome);
  });

  it('answers card errors in Stripe shape: 402, code, decline_code and the PaymentIntent', async () => {
    const error = await stripe.paymentIntents
      .create({ amount: 2500, currency: 'usd', customer: customerId, payment_method: 'pm_card_chargeDeclinedExpiredCard', confirm: true, off_session: true })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(Stripe.errors.StripeCardError);
    const cardError = error as Stripe.errors.StripeCardError;
    expect(cardError).toMatchObject({ statusCode: 402, code: 'expired_card', decline_code: 'expired_card', param: 'exp_month' });
    expect(cardError.payment_intent).toMatchObject({
      status: 'requires_payment_method',
      amount: 2500,
      last_payment_error: { type: 'card_error', code: 'expired_card', decline_code: 'expired_card' },
    });
  });

  it.each(['pm_card_authenticationRequired', 'pm_card_threeDSecureRequired'])('%s off-session requires customer action', async (paymentMethodToken) => {
    const request = chargeRequest({ paymentMethodToken });
    const outcome = await gateway.charge(request);

    expect(outcome).toEqual({ status: 'requires_action', gateway: 'stripe', reference: expect.stringMatching(/^pi_/) });
    expect(simulator.charges()).toEqual([]);
    // Like Stripe, off-session the PaymentIntent fails with authentication_required rather
    // than waiting in requires_action.
    const pi = await stripe.paymentIntents.retrieve((outcome as { reference: string }).reference);
    expect(pi.status).toBe('requires_payment_method');
    expect(pi.last_payment_error).toMatchObject({ code: 'authentication_required', decline_code: 'authentication_required' });
    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toEqual(outcome);
  });

  it('on-session, a card needing authentication leaves the PaymentIntent in requires_action', async () => {
    const pi = await stripe.paymentIntents.create({ amount: 2500, currency: 'usd', payment_method: 'pm_card_threeDSecureRequired', confirm: true });
    expect(pi.status).toBe('requires_action');
    expect(pi.next_action?.type).toBe('use_stripe_sdk');
  });

  it('reports a missing saved payment method as a decline the customer must fix', async () => {
    const outcome = await gateway.charge(chargeRequest({ paymentMethodToken: 'pm_missing_detached' }));
    expect(outcome).toEqual({
      status: 'declined',
      gateway: 'stripe',
      declineCode: 'invalid_payment_method',
      message: "No such PaymentMethod: 'pm_missing_detached'",
    });
    expect(simulator.charges()).toEqual([]);
  });
});

describe('faults that are ours, not the customer’s, are thrown', () => {
  it('refuses anything but a pm_ token and never echoes it', async () => {
    const error = (await gateway.charge(chargeRequest({ paymentMethodToken: '4242424242424242' })).catch((e: unknown) => e)) as Error;
    expect(error.message).toBe('Stripe charge refused: paymentMethodToken must be a Stripe PaymentMethod id (pm_...)');
    expect(simulator.charges()).toEqual([]);
  });

  it('throws on an unknown customer', async () => {
    await expect(gateway.charge(chargeRequest({ gatewayCustomerId: 'cus_doesnotexist' }))).rejects.toMatchObject({
      type: 'StripeInvalidRequestError',
      code: 'resource_missing',
      param: 'customer',
    });
  });

  it('throws on a non-test API key (rejected by stripe-mock with 401)', async () => {
    await expect(gatewayWith(5_000, 'sk_live_notallowed').charge(chargeRequest())).rejects.toBeInstanceOf(Stripe.errors.StripeAuthenticationError);
  });

  it('throws on an amount below Stripe’s minimum charge', async () => {
    await expect(gateway.charge(chargeRequest({ amount: money(49, 'USD') }))).rejects.toMatchObject({ code: 'amount_too_small', param: 'amount' });
    expect(simulator.charges()).toEqual([]);
  });

  it('passes on stripe-mock’s validation errors unchanged', async () => {
    const params = { amount: 2500, currency: 'usd', no_such_param: 'x' } as unknown as Stripe.PaymentIntentCreateParams;
    const error = (await stripe.paymentIntents.create(params).catch((e: unknown) => e)) as Stripe.errors.StripeError;
    expect(error).toBeInstanceOf(Stripe.errors.StripeInvalidRequestError);
    expect(error.statusCode).toBe(400);
    expect(error.message).toMatch(/^Request validation error/);
  });
});

describe('idempotency', () => {
  it('replays the same key: same reference, one charge, Idempotent-Replayed header', async () => {
    const request = chargeRequest();
    const first = await gateway.charge(request);
    const second = await gateway.charge(request);

    expect(second).toEqual(first);
    expect(simulator.charges()).toHaveLength(1);

    const params: Stripe.PaymentIntentCreateParams = { amount: 700, currency: 'usd', payment_method: 'pm_card_visa', confirm: true };
    const original = await stripe.paymentIntents.create(params, { idempotencyKey: 'raw_key' });
    const replay = await stripe.paymentIntents.create(params, { idempotencyKey: 'raw_key' });
    expect(replay.id).toBe(original.id);
    expect(original.lastResponse.headers['idempotent-replayed']).toBeUndefined();
    expect(replay.lastResponse.headers['idempotent-replayed']).toBe('true');
    expect(replay.lastResponse.headers['original-request']).toBe(original.lastResponse.requestId);
    expect(simulator.charges()).toHaveLength(2);
  });

  it('replays a decline for the same key without a second attempt', async () => {
    const request = chargeRequest({ paymentMethodToken: 'pm_card_chargeDeclinedInsufficientFunds' });
    const first = await gateway.charge(request);
    await expect(gateway.charge(request)).resolves.toEqual(first);
  });

  it('throws when a key is reused with a different amount', async () => {
    const request = chargeRequest();
    await gateway.charge(request);
    await expect(gateway.charge({ ...request, amount: money(2600, 'USD') })).rejects.toBeInstanceOf(Stripe.errors.StripeIdempotencyError);
    expect(simulator.charges()).toEqual([expect.objectContaining({ amount: 2500 })]);
  });

  it('creates a customer once per idempotency key', async () => {
    const request = { customerId: 'cust_7', email: 'grace@example.com', name: 'Grace Hopper', idempotencyKey: 'customer_cust_7' };
    const first = await gateway.createCustomer(request);
    const second = await gateway.createCustomer(request);

    expect(first.gatewayCustomerId).toMatch(/^cus_\w+$/);
    expect(second).toEqual(first);
    const customer = await stripe.customers.retrieve(first.gatewayCustomerId);
    expect(customer).toMatchObject({ email: 'grace@example.com', name: 'Grace Hopper', metadata: { customer_id: 'cust_7' } });
  });
});

describe('gateway failures', () => {
  it('server_error: ambiguous gateway_error, nothing charged, a retry with the same key charges once', async () => {
    simulator.failNext(1, 'server_error');
    const request = chargeRequest();

    const outcome = await gateway.charge(request);
    expect(outcome).toEqual({ status: 'gateway_error', gateway: 'stripe', ambiguous: true, message: 'An unknown error occurred (injected by stripe-simulator).' });
    expect(simulator.charges()).toHaveLength(0);
    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toBeNull();

    const retried = await gateway.charge(request);
    expect(retried.status).toBe('succeeded');
    expect(simulator.charges()).toHaveLength(1);
  });

  it('rate_limit: gateway_error that is not ambiguous', async () => {
    simulator.failNext(1, 'rate_limit');
    const outcome = await gateway.charge(chargeRequest());
    expect(outcome).toMatchObject({ status: 'gateway_error', gateway: 'stripe', ambiguous: false });
    expect(simulator.charges()).toHaveLength(0);
  });

  it('one lost response is absorbed by the SDK’s own reconnect retry, replayed under the same key', async () => {
    simulator.failNext(1, 'lost_response');
    const outcome = await gateway.charge(chargeRequest());

    expect(outcome).toEqual({ status: 'succeeded', gateway: 'stripe', reference: simulator.charges()[0]?.id });
    expect(simulator.charges()).toHaveLength(1);
  });

  it('lost responses: ambiguous, then findCharge and a retry both see the one charge', async () => {
    // Two, because stripe-node retries a reset connection once even with maxNetworkRetries 0.
    simulator.failNext(2, 'lost_response');
    const request = chargeRequest();

    const outcome = await gateway.charge(request);
    expect(outcome).toMatchObject({ status: 'gateway_error', gateway: 'stripe', ambiguous: true });
    expect(simulator.faults().pending).toEqual([]);
    const [charge] = simulator.charges();
    expect(charge).toMatchObject({ amount: 2500, currency: 'usd', idempotencyKey: request.idempotencyKey });

    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toEqual({ status: 'succeeded', gateway: 'stripe', reference: charge!.id });
    await expect(gateway.charge(request)).resolves.toEqual({ status: 'succeeded', gateway: 'stripe', reference: charge!.id });
    expect(simulator.charges()).toHaveLength(1);
  });

  it('timeout: ambiguous gateway_error, nothing charged, findCharge returns null', async () => {
    simulator.failNext(1, 'timeout');
    const request = chargeRequest();

    const outcome = await gatewayWith(300).charge(request);
    expect(outcome).toEqual({ status: 'gateway_error', gateway: 'stripe', ambiguous: true, message: 'Request aborted due to timeout being reached (300ms)' });
    expect(simulator.charges()).toHaveLength(0);
    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toBeNull();
  });
});

describe('holding a charge in flight', () => {
  it('records the charge at once and answers on release', async () => {
    const request = chargeRequest({ idempotencyKey: 'held_inv_1_attempt_1' });
    simulator.hold('held_');
    const pending = gateway.charge(request);

    const charge = await simulator.waitForCharge((c) => c.idempotencyKey === request.idempotencyKey, 5_000);
    expect(simulator.faults().held).toBe(1);
    simulator.release();

    await expect(pending).resolves.toEqual({ status: 'succeeded', gateway: 'stripe', reference: charge.id });
  });

  it('a client that gives up leaves a charge that findCharge and a replay both find', async () => {
    const request = chargeRequest({ idempotencyKey: 'held_inv_2_attempt_1' });
    simulator.hold('held_');

    const outcome = await gatewayWith(300).charge(request);
    expect(outcome).toMatchObject({ status: 'gateway_error', ambiguous: true });
    const [charge] = simulator.charges();
    expect(charge?.idempotencyKey).toBe(request.idempotencyKey);

    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toEqual({ status: 'succeeded', gateway: 'stripe', reference: charge!.id });
    // Still holding: replays of a stored result are not held.
    await expect(gateway.charge(request)).resolves.toEqual({ status: 'succeeded', gateway: 'stripe', reference: charge!.id });
    expect(simulator.charges()).toHaveLength(1);
    expect(simulator.faults()).toEqual({ pending: [], holdPrefix: 'held_', held: 0 });
  });
});

describe('search lags behind writes, as at Stripe; lists do not', () => {
  it('a charge made a moment ago is not searchable yet, but findCharge finds it through the recent list', async () => {
    const request = chargeRequest();
    const outcome = await gateway.charge(request);
    const [charge] = simulator.charges();
    expect(outcome).toEqual({ status: 'succeeded', gateway: 'stripe', reference: charge!.id });

    const searched = await stripe.paymentIntents.search({ query: `metadata['idempotency_key']:'${request.idempotencyKey}'` });
    expect(searched.data).toEqual([]);
    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toEqual(outcome);
    await expect(gateway.resolveCharge!(request)).resolves.toEqual(outcome);
    // Another customer's recent PaymentIntents are not scanned when the customer is known.
    const other = (await gateway.createCustomer({ customerId: 'cust_43', email: 'bo@example.com', name: 'Bo', idempotencyKey: 'customer_other' })).gatewayCustomerId;
    await expect(gateway.resolveCharge!({ ...request, gatewayCustomerId: other })).resolves.toBeNull();
  });

  it('a charge older than the lag is found by search alone', async () => {
    simulator.setSearchLag(0);
    const request = chargeRequest();
    const outcome = await gateway.charge(request);
    const searched = await stripe.paymentIntents.search({ query: `metadata['idempotency_key']:'${request.idempotencyKey}'` });
    expect(searched.data.map((pi) => pi.id)).toEqual([simulator.charges()[0]!.id]);
    await expect(gateway.findCharge(request.idempotencyKey)).resolves.toEqual(outcome);
  });

  it('lists PaymentIntents newest first, by customer and created, a page at a time', async () => {
    const first = await gateway.charge(chargeRequest());
    const second = await gateway.charge(chargeRequest({ paymentMethodToken: 'pm_card_chargeDeclinedInsufficientFunds' }));
    const third = await gateway.charge(chargeRequest());
    const page = await stripe.paymentIntents.list({ customer: customerId, limit: 2 });
    expect(page.data.map((pi) => pi.status)).toEqual(['succeeded', 'requires_payment_method']);
    expect(page.has_more).toBe(true);
    const next = await stripe.paymentIntents.list({ customer: customerId, limit: 2, starting_after: page.data[1]!.id });
    expect(next.data.map((pi) => pi.id)).toEqual([(first as { reference: string }).reference]);
    expect(next.has_more).toBe(false);
    expect(third.status).toBe('succeeded');
    expect(second.status).toBe('declined');
    const future = await stripe.paymentIntents.list({ created: { gt: Math.floor(Date.now() / 1000) + 60 } });
    expect(future.data).toEqual([]);
  });
});

describe('simulator extras', () => {
  it('searches metadata clauses joined with AND', async () => {
    simulator.setSearchLag(0);
    const paid = chargeRequest();
    await gateway.charge(paid);
    await gateway.charge(chargeRequest({ paymentMethodToken: 'pm_card_chargeDeclined', metadata: { invoice_id: paid.metadata.invoice_id! } }));

    const all = await stripe.paymentIntents.search({ query: `metadata['invoice_id']:'${paid.metadata.invoice_id}'` });
    const succeeded = await stripe.paymentIntents.search({ query: `metadata['invoice_id']:'${paid.metadata.invoice_id}' AND status:'succeeded'` });
    expect(all.data.map((pi) => pi.status)).toEqual(['requires_payment_method', 'succeeded']);
    expect(succeeded.data.map((pi) => pi.metadata.idempotency_key)).toEqual([paid.idempotencyKey]);
  });

  it('refunds part of a charge and refuses more than remains', async () => {
    const outcome = (await gateway.charge(chargeRequest())) as { reference: string };
    const refund = await stripe.refunds.create({ payment_intent: outcome.reference, amount: 1000 }, { idempotencyKey: 'refund_1' });

    expect(refund).toMatchObject({ object: 'refund', amount: 1000, currency: 'usd', payment_intent: outcome.reference, status: 'succeeded' });
    await expect(stripe.refunds.create({ payment_intent: outcome.reference, amount: 1501 })).rejects.toMatchObject({ code: 'amount_too_large' });
    expect(simulator.refunds()).toEqual([expect.objectContaining({ paymentIntent: outcome.reference, amount: 1000, idempotencyKey: 'refund_1' })]);
  });

  it('answers 404 resource_missing for an unknown PaymentIntent', async () => {
    await expect(stripe.paymentIntents.retrieve('pi_unknown')).rejects.toMatchObject({ statusCode: 404, code: 'resource_missing', param: 'id' });
  });

  it('is driven over HTTP by the admin client', async () => {
    const admin = stripeSimulatorAdmin(simulator.url);
    await admin.failNext(1, 'server_error');
    expect(await admin.faults()).toEqual({ pending: ['server_error'], holdPrefix: null, held: 0 });

    expect((await gateway.charge(chargeRequest())).status).toBe('gateway_error');
    const request = chargeRequest();
    await gateway.charge(request);
    const charge = await admin.waitForCharge((c) => c.idempotencyKey === request.idempotencyKey, 2_000);
    expect(await admin.charges()).toEqual([charge]);

    await admin.reset();
    expect(await admin.charges()).toEqual([]);
  });
});
