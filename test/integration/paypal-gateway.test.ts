// The PayPal adapter (gateways/paypal.ts, on @paypal/paypal-server-sdk) against the local PayPal
// sandbox (test/peers/paypal-sandbox.ts): amounts, declines, idempotency, lost responses, faults.
import { fromPayPalAmount, createPayPalGateway, toPayPalAmount, type PayPalGateway } from '../../gateways/paypal';
import type { ChargeRequest } from '../../gateways/gateway';
import { PAYPAL_TEST_TOKENS, startPayPalSandbox, type PayPalSandbox } from '../peers/paypal-sandbox';

const TIMEOUT_MS = 400;

function chargeRequest(overrides: Partial<ChargeRequest> = {}): ChargeRequest {
  return {
    amount: { amount: 9700, currency: 'USD' },
    paymentMethodToken: PAYPAL_TEST_TOKENS.success,
    idempotencyKey: 'inv_paypal_1:attempt-1',
    description: 'Pro plan, November',
    metadata: { invoice_id: 'inv_paypal_1', customer_id: 'cus_1' },
    ...overrides,
  };
}

describe('PayPal amounts', () => {
  it('turns integer minor units into decimal strings without floats, and back', () => {
    expect(toPayPalAmount({ amount: 9700, currency: 'USD' })).toEqual({ currencyCode: 'USD', value: '97.00' });
    expect(toPayPalAmount({ amount: 5, currency: 'EUR' })).toEqual({ currencyCode: 'EUR', value: '0.05' });
    expect(toPayPalAmount({ amount: 1, currency: 'GBP' }).value).toBe('0.01');
    expect(toPayPalAmount({ amount: 100, currency: 'USD' }).value).toBe('1.00');
    // 0.1 + 0.2 territory and beyond 2^53 / 100: string arithmetic stays exact.
    expect(toPayPalAmount({ amount: 30, currency: 'USD' }).value).toBe('0.30');
    expect(toPayPalAmount({ amount: 9_007_199_254_740_991, currency: 'USD' }).value).toBe('90071992547409.91');
    expect(fromPayPalAmount('97.00', 'USD')).toBe(9700);
    expect(fromPayPalAmount('0.05', 'USD')).toBe(5);
    expect(fromPayPalAmount('97.0', 'USD')).toBeNull();
    expect(fromPayPalAmount('97', 'USD')).toBeNull();
    expect(() => toPayPalAmount({ amount: 0, currency: 'USD' })).toThrow(RangeError);
    expect(() => toPayPalAmount({ amount: 12.5, currency: 'USD' })).toThrow(RangeError);
  });
});

describe('PayPal gateway against the sandbox', () => {
  let sandbox: PayPalSandbox;
  let gateway: PayPalGateway;

  beforeAll(async () => {
    sandbox = await startPayPalSandbox();
  });

  afterAll(async () => {
    await sandbox.close();
  });

  beforeEach(() => {
    sandbox.reset();
    // A new adapter per test, like a new worker process: nothing remembered from other tests.
    gateway = createPayPalGateway({ clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, baseUrl: sandbox.url, timeoutMs: TIMEOUT_MS });
  });

  it('charges a vaulted PayPal token: create order, then capture, with the exact amount', async () => {
    const outcome = await gateway.charge(chargeRequest());

    const captures = sandbox.captures();
    expect(captures).toHaveLength(1);
    const capture = captures[0]!;
    expect(outcome).toEqual({ status: 'succeeded', gateway: 'paypal', reference: capture.id });
    expect(capture).toMatchObject({
      status: 'COMPLETED',
      amount: '97.00',
      currency: 'USD',
      requestId: 'inv_paypal_1:attempt-1:capture',
      customId: 'inv_paypal_1:attempt-1',
      invoiceId: 'inv_paypal_1',
      description: 'Pro plan, November',
      paymentToken: PAYPAL_TEST_TOKENS.success,
    });
    const calls = sandbox.requests().filter((r) => r.endpoint !== 'oauth');
    expect(calls.map((r) => `${r.method} ${r.endpoint} ${r.requestId ?? '-'} ${r.status}`)).toEqual([
      'POST create_order inv_paypal_1:attempt-1:create 201',
      'POST capture_order inv_paypal_1:attempt-1:capture 201',
    ]);
  });

  it('sends billing agreements as payment_source.token and cards saved at PayPal as card.vault_id', async () => {
    const agreement = await gateway.charge(chargeRequest({ idempotencyKey: 'ba-1', paymentMethodToken: `B-${PAYPAL_TEST_TOKENS.success}` }));
    const card = await gateway.charge(chargeRequest({ idempotencyKey: 'card-1', paymentMethodToken: `card:${PAYPAL_TEST_TOKENS.success}` }));
    expect(agreement.status).toBe('succeeded');
    expect(card.status).toBe('succeeded');
    expect(sandbox.captures().map((c) => c.paymentToken)).toEqual([`B-${PAYPAL_TEST_TOKENS.success}`, PAYPAL_TEST_TOKENS.success]);
  });

  it('refuses anything that is not a PayPal token before it leaves the process', async () => {
    await expect(gateway.charge(chargeRequest({ paymentMethodToken: '4242424242424242' }))).rejects.toThrow('paymentMethodToken must be');
    await expect(gateway.charge(chargeRequest({ paymentMethodToken: 'pm_card_visa with spaces' }))).rejects.toThrow('paymentMethodToken must be');
    expect(sandbox.requests()).toHaveLength(0);
  });

  it.each([
    [PAYPAL_TEST_TOKENS.declined, 'instrument_declined'],
    [PAYPAL_TEST_TOKENS.refused, 'transaction_refused'],
    [PAYPAL_TEST_TOKENS.insufficientFunds, 'insufficient_funds'],
    ['pp_vault_deleted_long_ago', 'invalid_payment_method'],
  ])('normalizes the decline of %s to %s', async (token, declineCode) => {
    const outcome = await gateway.charge(chargeRequest({ paymentMethodToken: token }));
    expect(outcome).toMatchObject({ status: 'declined', gateway: 'paypal', declineCode });
    expect(sandbox.captures()).toHaveLength(0);
  });

  it('reports PAYER_ACTION_REQUIRED as requires_action on the order', async () => {
    const outcome = await gateway.charge(chargeRequest({ paymentMethodToken: PAYPAL_TEST_TOKENS.payerActionRequired }));
    const orderId = sandbox.requests().find((r) => r.endpoint === 'capture_order')!.path.split('/')[4];
    expect(outcome).toEqual({ status: 'requires_action', gateway: 'paypal', reference: orderId });
    expect(sandbox.captures()).toHaveLength(0);
  });

  it('treats a PENDING capture as ambiguous: money may still move', async () => {
    const outcome = await gateway.charge(chargeRequest({ paymentMethodToken: PAYPAL_TEST_TOKENS.pending }));
    expect(outcome).toMatchObject({ status: 'gateway_error', ambiguous: true });
    expect((outcome as { message: string }).message).toMatch(/pending \(PENDING_REVIEW\)/);
  });

  it('charges once for the same key, however often it is called', async () => {
    const first = await gateway.charge(chargeRequest());
    const second = await gateway.charge(chargeRequest());
    expect(second).toEqual(first);
    expect(sandbox.captures()).toHaveLength(1);
    // The second call was answered from PayPal's idempotency store.
    const creates = sandbox.requests().filter((r) => r.endpoint === 'create_order');
    expect(creates.map((r) => [r.requestId, r.replayed])).toEqual([
      ['inv_paypal_1:attempt-1:create', false],
      ['inv_paypal_1:attempt-1:create', true],
    ]);
    expect(sandbox.requests().filter((r) => r.endpoint === 'capture_order')).toHaveLength(1);

    // Another gateway instance (another worker) with the same key: still one capture.
    const other = createPayPalGateway({ clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, baseUrl: sandbox.url, timeoutMs: TIMEOUT_MS });
    expect(await other.charge(chargeRequest())).toEqual(first);
    expect(sandbox.captures()).toHaveLength(1);
  });

  it('resolves a capture whose response was lost: ambiguous, then findCharge finds it', async () => {
    sandbox.failNext(1, 'lost_response', 'capture_order');
    const outcome = await gateway.charge(chargeRequest());
    expect(outcome).toMatchObject({ status: 'gateway_error', gateway: 'paypal', ambiguous: true });
    expect(sandbox.captures()).toHaveLength(1);

    const found = await gateway.findCharge('inv_paypal_1:attempt-1');
    expect(found).toEqual({ status: 'succeeded', gateway: 'paypal', reference: sandbox.captures()[0]!.id });
    // resolveCharge (what the router uses, in any process) says the same, and neither captured.
    const other = createPayPalGateway({ clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, baseUrl: sandbox.url, timeoutMs: TIMEOUT_MS });
    expect(await other.findCharge('inv_paypal_1:attempt-1')).toBeNull(); // never charged through this instance
    expect(await other.resolveCharge(chargeRequest())).toEqual(found);
    // A retry of the charge itself returns the capture instead of capturing again.
    expect(await gateway.charge(chargeRequest())).toEqual(found);
    expect(sandbox.captures()).toHaveLength(1);
  });

  it('a capture that timed out without being executed is found to have charged nothing', async () => {
    sandbox.failNext(1, 'timeout', 'capture_order');
    const outcome = await gateway.charge(chargeRequest());
    expect(outcome).toMatchObject({ status: 'gateway_error', ambiguous: true });
    expect((outcome as { message: string }).message).toMatch(/timeout of 400ms exceeded/);
    expect(await gateway.findCharge('inv_paypal_1:attempt-1')).toBeNull();
    expect(await gateway.resolveCharge(chargeRequest())).toBeNull();
    expect(sandbox.captures()).toHaveLength(0);
  });

  it('a lost create-order response moved no money: findCharge says so without capturing', async () => {
    sandbox.failNext(1, 'lost_response', 'create_order');
    const outcome = await gateway.charge(chargeRequest());
    // The create never carries the payment source, so nothing can have been charged.
    expect(outcome).toMatchObject({ status: 'gateway_error', ambiguous: false });
    expect(await gateway.findCharge('inv_paypal_1:attempt-1')).toBeNull();
    expect(sandbox.captures()).toHaveLength(0);
    // The retry reuses the order the lost create made (same PayPal-Request-Id) and captures it once.
    expect(await gateway.charge(chargeRequest())).toMatchObject({ status: 'succeeded' });
    expect(sandbox.captures()).toHaveLength(1);
  });

  it('a 500 is a gateway_error and captures nothing; a 500 on the capture is ambiguous until looked up', async () => {
    sandbox.failNext(1, 'server_error', 'create_order');
    expect(await gateway.charge(chargeRequest({ idempotencyKey: 'k-500-create' }))).toMatchObject({ status: 'gateway_error', ambiguous: false });

    sandbox.failNext(1, 'server_error', 'capture_order');
    const outcome = await gateway.charge(chargeRequest({ idempotencyKey: 'k-500-capture' }));
    expect(outcome).toMatchObject({ status: 'gateway_error', ambiguous: true });
    expect((outcome as { message: string }).message).toMatch(/^PayPal 500 INTERNAL_SERVER_ERROR/);
    expect(await gateway.findCharge('k-500-capture')).toBeNull();
    expect(sandbox.captures()).toHaveLength(0);
  });

  it('a 429 is a clear (not ambiguous) gateway_error', async () => {
    sandbox.failNext(1, 'rate_limit', 'capture_order');
    expect(await gateway.charge(chargeRequest())).toMatchObject({ status: 'gateway_error', ambiguous: false });
    expect(sandbox.captures()).toHaveLength(0);
  });

  it('survives a failed token request (the SDK alone would stay broken) and a revoked token', async () => {
    const fresh = createPayPalGateway({ clientId: sandbox.clientId, clientSecret: sandbox.clientSecret, baseUrl: sandbox.url, timeoutMs: TIMEOUT_MS });
    sandbox.failNext(1, 'server_error', 'oauth');
    expect(await fresh.charge(chargeRequest())).toMatchObject({ status: 'gateway_error', ambiguous: false, message: expect.stringMatching(/access token/) });
    expect(await fresh.charge(chargeRequest())).toMatchObject({ status: 'succeeded' });
    sandbox.reset();
    sandbox.revokeTokens();
    // The token is no longer valid: the next call gets a 401, fetches a new token and goes on.
    expect(await fresh.charge(chargeRequest({ idempotencyKey: 'after-revoke' }))).toMatchObject({ status: 'succeeded' });
    expect(sandbox.requests().map((r) => `${r.endpoint} ${r.status}`)).toEqual(['create_order 401', 'oauth 200', 'create_order 201', 'capture_order 201']);
  });

  it('throws on wrong credentials: configuration, not a business outcome', async () => {
    const wrong = createPayPalGateway({ clientId: sandbox.clientId, clientSecret: 'not-the-secret', baseUrl: sandbox.url, timeoutMs: TIMEOUT_MS });
    await expect(wrong.charge(chargeRequest())).rejects.toThrow('PayPal refused the client credentials (401)');
  });

  it('refuses plain http to anything but a loopback host', () => {
    expect(() => createPayPalGateway({ clientId: 'a', clientSecret: 'b', baseUrl: 'http://paypal.example.com' })).toThrow('must be https');
  });

  it('refunds a capture, fully or in part, once per key', async () => {
    const charged = await gateway.charge(chargeRequest());
    if (charged.status !== 'succeeded') throw new Error('charge failed');
    const refund = (amount: number, idempotencyKey: string) =>
      gateway.refund({ gatewayReference: charged.reference, amount, currency: 'USD', idempotencyKey, reason: 'requested_by_customer' });
    const part = await refund(1250, 'refund-1');
    const again = await refund(1250, 'refund-1');
    expect(part.outcome).toBe('succeeded');
    expect(again).toEqual(part);
    // The capture was 9700: 1250 + 8450 refunds it fully.
    const rest = await refund(8450, 'refund-2');
    expect(rest.outcome).toBe('succeeded');
    expect(sandbox.refunds().map((r) => [r.amount, r.currency, r.requestId])).toEqual([
      ['12.50', 'USD', 'refund-1:refund'],
      ['84.50', 'USD', 'refund-2:refund'],
    ]);
    expect(sandbox.captures()[0]!.status).toBe('REFUNDED');
    expect(await refund(1, 'refund-3')).toMatchObject({ outcome: 'failed', code: 'capture_fully_refunded' });
  });

  it('createCustomer needs no call to PayPal and is deterministic', async () => {
    const request = { customerId: 'cus_42', email: 'a@example.test', name: 'A', idempotencyKey: 'customer:cus_42' };
    expect(await gateway.createCustomer(request)).toEqual({ gatewayCustomerId: 'cus_42' });
    expect(await gateway.createCustomer(request)).toEqual({ gatewayCustomerId: 'cus_42' });
    expect(sandbox.requests()).toHaveLength(0);
  });

  it('verifies webhook signatures with PayPal: genuine deliveries pass, tampered or foreign ones fail', async () => {
    const event = {
      id: 'WH-2WR32451HC0233532-67976317FL4543714',
      event_type: 'PAYMENT.CAPTURE.COMPLETED',
      resource_type: 'capture',
      resource: { id: '2GG279541U471931P', status: 'COMPLETED', amount: { currency_code: 'USD', value: '97.00' } },
      create_time: '2026-01-01T00:00:00Z',
    };
    const delivery = sandbox.signWebhook(event);
    const verify = (body: string, headers: Record<string, string>, webhookId = sandbox.webhookId) =>
      gateway.verifyWebhookSignature({ body, headers, webhookId });

    expect(await verify(delivery.body, delivery.headers)).toBe(true);
    // Header names arrive in any case.
    const upper = Object.fromEntries(Object.entries(delivery.headers).map(([k, v]) => [k.toUpperCase(), v]));
    expect(await verify(delivery.body, upper)).toBe(true);

    const tampered = delivery.body.replace('97.00', '9700.00');
    expect(await verify(tampered, delivery.headers)).toBe(false);
    expect(await verify(delivery.body, delivery.headers, 'WH-SOMEONE-ELSE')).toBe(false);
    expect(await verify(delivery.body, { ...delivery.headers, 'paypal-transmission-id': 'another-id' })).toBe(false);
    expect(await verify(delivery.body, { ...delivery.headers, 'paypal-cert-url': 'https://evil.example/cert.pem' })).toBe(false);
    const signedForAnotherWebhook = sandbox.signWebhook(event, { webhookId: 'WH-SOMEONE-ELSE' });
    expect(await verify(signedForAnotherWebhook.body, signedForAnotherWebhook.headers)).toBe(false);
    const { ['paypal-transmission-sig']: _dropped, ...unsigned } = delivery.headers;
    expect(await verify(delivery.body, unsigned)).toBe(false);
  });
});

describe('PayPal sandbox, raw REST', () => {
  let sandbox: PayPalSandbox;
  let token: string;

  beforeAll(async () => {
    sandbox = await startPayPalSandbox();
    const response = await fetch(`${sandbox.url}/v1/oauth2/token`, {
      method: 'POST',
      headers: {
        Authorization: `Basic ${Buffer.from(`${sandbox.clientId}:${sandbox.clientSecret}`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    });
    const body = (await response.json()) as { access_token: string; token_type: string; expires_in: number };
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 32400 });
    token = body.access_token;
  });

  afterAll(async () => {
    await sandbox.close();
  });

  const post = async (path: string, body: unknown, headers: Record<string, string> = {}) => {
    const response = await fetch(`${sandbox.url}${path}`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as Record<string, any> };
  };

  const singleStep = {
    intent: 'CAPTURE',
    purchase_units: [{ amount: { currency_code: 'USD', value: '97.00' }, custom_id: 'k-single' }],
    payment_source: { paypal: { vault_id: PAYPAL_TEST_TOKENS.success } },
  };

  it('processes a create with a vaulted payment_source at once (single-step), and wants a PayPal-Request-Id for it', async () => {
    const missing = await post('/v2/checkout/orders', singleStep);
    expect(missing.status).toBe(400);
    expect(missing.body.details[0].issue).toBe('PAYPAL_REQUEST_ID_REQUIRED');

    const created = await post('/v2/checkout/orders', singleStep, { 'PayPal-Request-Id': 'single-1', Prefer: 'return=representation' });
    expect(created.status).toBe(201);
    expect(created.body.status).toBe('COMPLETED');
    const capture = created.body.purchase_units[0].payments.captures[0];
    expect(capture).toMatchObject({ status: 'COMPLETED', amount: { currency_code: 'USD', value: '97.00' }, custom_id: 'k-single' });
    expect(capture.seller_receivable_breakdown).toEqual({
      gross_amount: { currency_code: 'USD', value: '97.00' },
      paypal_fee: { currency_code: 'USD', value: '3.88' },
      net_amount: { currency_code: 'USD', value: '93.12' },
    });

    // Same request id: the order as it is now, minimal by default; no second capture.
    const replay = await post('/v2/checkout/orders', singleStep, { 'PayPal-Request-Id': 'single-1' });
    expect(replay.body.id).toBe(created.body.id);
    expect(Object.keys(replay.body).sort()).toEqual(['id', 'links', 'payment_source', 'status']);
    expect(sandbox.captures()).toHaveLength(1);

    const again = await post(`/v2/checkout/orders/${created.body.id}/capture`, {}, { 'PayPal-Request-Id': 'single-1-capture' });
    expect(again.status).toBe(422);
    expect(again.body).toMatchObject({ name: 'UNPROCESSABLE_ENTITY', details: [{ issue: 'ORDER_ALREADY_CAPTURED' }] });
    expect(typeof again.body.debug_id).toBe('string');
  });

  it('validates amounts like PayPal: decimal precision, currency, positive', async () => {
    const order = (value: string, currency = 'USD') => ({ intent: 'CAPTURE', purchase_units: [{ amount: { currency_code: currency, value } }] });
    expect((await post('/v2/checkout/orders', order('97.001'))).body.details[0].issue).toBe('DECIMAL_PRECISION');
    expect((await post('/v2/checkout/orders', order('97,00'))).body.details[0].issue).toBe('DECIMAL_PRECISION');
    expect((await post('/v2/checkout/orders', order('97'))).status).toBe(201);
    expect((await post('/v2/checkout/orders', order('97.5'))).status).toBe(201);
    expect((await post('/v2/checkout/orders', order('0.00'))).body.details[0].issue).toBe('CANNOT_BE_ZERO_OR_NEGATIVE');
    expect((await post('/v2/checkout/orders', order('100.50', 'JPY'))).body.details[0].issue).toBe('DECIMAL_PRECISION');
    expect((await post('/v2/checkout/orders', order('1.00', 'XXX'))).body.details[0].issue).toBe('CURRENCY_NOT_SUPPORTED');
  });

  it('answers 401 without a valid bearer token', async () => {
    const response = await fetch(`${sandbox.url}/v2/checkout/orders/NOPE`, { headers: { Authorization: 'Bearer nope' } });
    expect(response.status).toBe(401);
    expect(await response.json()).toMatchObject({ name: 'AUTHENTICATION_FAILURE' });
  });
});
