// The webhook-to-signal bridge: signatures checked on the raw body, each event stored once,
// duplicates and out-of-order deliveries leave the workflow in the right state, and an event
// for a workflow that cannot be signaled yet is kept and relayed later.
import Stripe from 'stripe';
import { sql } from 'slonik';
import { z } from 'zod';
import { relayPendingWebhooks } from '../../api/webhook-relay';
import { lookupRecurringPrice } from '../../domain/catalog';
import { getSubscription, subscriptionWorkflowId } from '../../workflows/messages';
import { createTestCustomer, uniqueSubscriptionId, waitFor } from '../support/environment';
import { request, startStack, STRIPE_WEBHOOK_SECRET, type Stack } from '../support/stack';

let stack: Stack;
let apiKey: string;
const stripe = new Stripe('sk_test_signing');

beforeAll(async () => {
  stack = await startStack();
  apiKey = await stack.apiKey();
});
afterAll(async () => {
  await stack?.close();
});

const api = (method: string, path: string, body?: unknown) => request(stack.baseUrl, method, path, { apiKey, body });

function stripeDelivery(event: object, options: { secret?: string; timestamp?: number } = {}) {
  const payload = JSON.stringify(event);
  const header = stripe.webhooks.generateTestHeaderString({
    payload,
    secret: options.secret ?? STRIPE_WEBHOOK_SECRET,
    ...(options.timestamp ? { timestamp: options.timestamp } : {}),
  });
  return { rawBody: payload, headers: { 'stripe-signature': header, 'content-type': 'application/json' } };
}

const storedEvents = async (ids: string[]) =>
  stack.pool.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id FROM webhook_events WHERE id = ANY(${sql.array(ids, 'text')}) ORDER BY id`);

async function activeSubscription() {
  const customer = (await api('POST', '/v1/customers', { email: 'webhooks@example.com', name: 'Web Hooks' })).body;
  const created = await api('POST', '/v1/subscriptions', { customerId: customer.id, plan: 'community', interval: 'month', paymentMethod: 'pm_card_visa', trial: false });
  const subscriptionId: string = created.body.subscriptionId;
  const view = await waitFor(async () => {
    const v = (await api('GET', `/v1/subscriptions/${subscriptionId}`)).body;
    return v.status === 'active' ? v : null;
  }, 'the first payment');
  const charge = stack.simulator.charges().find((c) => c.metadata.subscription_id === subscriptionId)!;
  return { subscriptionId, invoiceId: view.lastPayment.invoiceId as string, paymentIntent: charge.id };
}

const dispute = (id: string, type: string, created: number, paymentIntent: string, status: string) => ({
  id,
  object: 'event',
  type,
  created,
  data: { object: { id: 'dp_webhooks_1', object: 'dispute', payment_intent: paymentIntent, status, amount: 9700 } },
});

describe('Stripe webhooks', () => {
  it('applies a dispute once, in the gateway order of events, however they are delivered', async () => {
    const { subscriptionId, paymentIntent } = await activeSubscription();
    const prefix = `evt_${subscriptionId}`;
    const opened = dispute(`${prefix}_opened`, 'charge.dispute.created', 1_900_000_000, paymentIntent, 'needs_response');
    const closed = dispute(`${prefix}_closed`, 'charge.dispute.closed', 1_900_000_600, paymentIntent, 'lost');

    // Delivered out of order: the close first, then the (older) open, then the open again.
    const first = await request(stack.baseUrl, 'POST', '/webhooks/stripe', stripeDelivery(closed));
    expect(first.status).toBe(200);
    expect(first.body).toEqual({ received: true, duplicate: false, result: 'signaled' });
    expect((await request(stack.baseUrl, 'POST', '/webhooks/stripe', stripeDelivery(opened))).body.result).toBe('signaled');
    const again = await request(stack.baseUrl, 'POST', '/webhooks/stripe', stripeDelivery(opened));
    expect(again.body).toEqual({ received: true, duplicate: true });

    const view = await waitFor(async () => {
      const v = (await api('GET', `/v1/subscriptions/${subscriptionId}`)).body;
      return v.lastGatewayEvent?.eventId === opened.id ? v : null;
    }, 'both events applied');
    // The close happened 1_900_000_600 s after the epoch: 2030-03-17T17:56:40Z.
    expect(view.disputes).toEqual({
      dp_webhooks_1: { status: 'closed', outcome: 'lost', paymentReference: paymentIntent, updatedAt: '2030-03-17T17:56:40.000Z' },
    });
    expect(await storedEvents([`stripe:${opened.id}`, `stripe:${closed.id}`])).toEqual([`stripe:${closed.id}`, `stripe:${opened.id}`]);
  });

  it.each([
    ['a wrong secret', () => stripeDelivery({ id: 'evt_bad_secret', type: 'charge.dispute.created', created: 1 }, { secret: 'whsec_other' })],
    ['a replayed old timestamp', () => stripeDelivery({ id: 'evt_old', type: 'charge.dispute.created', created: 1 }, { timestamp: Math.floor(Date.now() / 1000) - 600 })],
    ['no signature', () => ({ rawBody: JSON.stringify({ id: 'evt_unsigned' }), headers: { 'content-type': 'application/json' } })],
    ['a signed body that is not JSON', () => {
      const payload = '{"id": "evt_broken",';
      return { rawBody: payload, headers: { 'stripe-signature': stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_WEBHOOK_SECRET }) } };
    }],
  ])('refuses %s with 400 and stores nothing', async (_name, delivery) => {
    const before = await stack.pool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int8 AS n FROM webhook_events`);
    const response = await request(stack.baseUrl, 'POST', '/webhooks/stripe', delivery());
    expect(response.status).toBe(400);
    expect(response.body.error).toMatchObject({ type: 'invalid_signature', field: 'Stripe-Signature' });
    expect(await stack.pool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int8 AS n FROM webhook_events`)).toBe(before);
  });

  it('acknowledges an event type it does not act on', async () => {
    const response = await request(stack.baseUrl, 'POST', '/webhooks/stripe', stripeDelivery({ id: `evt_coupon_created_${Date.now()}`, object: 'event', type: 'coupon.created', created: 1, data: { object: {} } }));
    expect(response.body).toEqual({ received: true, duplicate: false, result: 'ignored' });
  });

  it('keeps an event for a workflow it cannot signal yet, and relays it later', async () => {
    const subscriptionId = uniqueSubscriptionId();
    const event = {
      id: `evt_later_${subscriptionId}`,
      object: 'event',
      type: 'payment_method.updated',
      created: 1_900_000_000,
      data: { object: { id: 'pm_card_mastercard', object: 'payment_method', metadata: { subscription_id: subscriptionId } } },
    };
    const response = await request(stack.baseUrl, 'POST', '/webhooks/stripe', stripeDelivery(event));
    expect(response.body).toEqual({ received: true, duplicate: false, result: 'queued' });

    const customerId = await createTestCustomer(stack.pool);
    const plan = lookupRecurringPrice('community', 'month', 'USD');
    if (!plan.ok) throw new Error(plan.reason);
    const handle = await stack.temporal.workflow.start('subscriptionWorkflow', {
      workflowId: subscriptionWorkflowId(subscriptionId),
      taskQueue: stack.taskQueue,
      args: [{ subscriptionId, customerId, plan: plan.price, paymentMethodToken: 'pm_card_visa' }],
    });
    expect(await relayPendingWebhooks(stack.pool, stack.temporal, stack.logger)).toBeGreaterThanOrEqual(1);
    const view = await waitFor(async () => {
      const v = await handle.query(getSubscription);
      return v.lastGatewayEvent?.eventId === event.id ? v : null;
    }, 'the relayed event');
    expect(view.lastGatewayEvent).toEqual({ eventId: event.id, kind: 'payment_method_updated', occurredAt: '2030-03-17T17:46:40.000Z' });
    await api('POST', `/v1/subscriptions/${subscriptionId}/cancel`, { when: 'now' });
  });
});

describe('PayPal webhooks', () => {
  it('verifies through PayPal, stores once, and refuses a tampered delivery', async () => {
    const { invoiceId } = await activeSubscription();
    const event = {
      id: `WH-${invoiceId}`,
      event_type: 'CUSTOMER.DISPUTE.CREATED',
      create_time: '2030-03-17T18:00:00Z',
      resource: { dispute_id: 'PP-D-1', status: 'OPEN', disputed_transactions: [{ seller_transaction_id: 'CAPTURE-1' }], invoice_id: invoiceId },
    };
    const signed = stack.paypal.signWebhook(event);
    const delivered = await request(stack.baseUrl, 'POST', '/webhooks/paypal', { rawBody: signed.body, headers: { ...signed.headers, 'content-type': 'application/json' } });
    expect(delivered.status).toBe(200);
    expect(delivered.body).toEqual({ received: true, duplicate: false, result: 'signaled' });
    const duplicate = await request(stack.baseUrl, 'POST', '/webhooks/paypal', { rawBody: signed.body, headers: { ...signed.headers, 'content-type': 'application/json' } });
    expect(duplicate.body).toEqual({ received: true, duplicate: true });

    const tampered = signed.body.replace('OPEN', 'RESOLVED');
    const refused = await request(stack.baseUrl, 'POST', '/webhooks/paypal', { rawBody: tampered, headers: { ...signed.headers, 'content-type': 'application/json' } });
    expect(refused.status).toBe(400);
    expect(refused.body.error.type).toBe('invalid_signature');
  });
});
