// Course orders over HTTP, end to end: API -> Temporal dev server -> a worker running the course
// purchase workflow -> Stripe simulator (validated by stripe-mock) -> PostgreSQL; entitlements
// read back from PostgreSQL; every bad request answered with the field at fault, writing nothing.
// The subscription side (customers, a Community subscription) runs on the shared test stack.
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { NativeConnection, Worker } from '@temporalio/worker';
import express from 'express';
import pino from 'pino';
import { sql } from 'slonik';
import { z } from 'zod';
import { createPurchaseActivities } from '../../activities/purchases';
import { authenticated } from '../../api/auth';
import { ApiError, errorHandler } from '../../api/errors';
import { purchaseRoutes } from '../../api/routes/purchases';
import { insertCustomer } from '../../db/customers';
import { accountBalances } from '../../db/ledger';
import {
  findCouponForCode,
  findOrderRow,
  insertCoupon,
  insertPromotionCode,
  listOrderInstallments,
  placeCourseOrder,
  type PlacedCourseOrder,
} from '../../db/purchases';
import { periodStart } from '../../domain/calendar';
import type { OrderView } from '../../domain/course-purchase';
import { createPaymentRouter, type PaymentRouter } from '../../gateways/router';
import { createStripeGateway } from '../../gateways/stripe';
import { coursePurchaseWorkflow } from '../../workflows/course-purchase';
import { orderWorkflowId } from '../../workflows/purchase-messages';
import { bundleWorkflows, requiredEnv, uniqueTaskQueue, waitFor } from '../support/environment';
import { request, startStack, type Stack } from '../support/stack';


let stack: Stack;
let nativeConnection: NativeConnection;
let router: PaymentRouter;
let worker: Worker;
let workerRun: Promise<void>;
let server: Server;
let ordersUrl: string;
const purchaseQueue = uniqueTaskQueue('purchases');
const tag = randomUUID().slice(0, 8).toUpperCase();

/** The API as createApp composes it, with the purchase routes mounted (the task queue is this file's). */
function purchasesApp(): express.Express {
  const app = express();
  app.use((_req, res, next) => {
    res.locals.requestId = randomUUID();
    res.setHeader('X-Request-Id', res.locals.requestId);
    next();
  });
  app.use(express.json({ limit: '32kb', strict: true }));
  app.use('/v1', authenticated(stack.pool));
  app.use(purchaseRoutes(stack.pool, stack.temporal, purchaseQueue));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(pino({ level: 'silent' })));
  return app;
}

beforeAll(async () => {
  stack = await startStack();
  nativeConnection = await NativeConnection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
  const stripe = createStripeGateway({ apiKey: 'sk_test_purchases', host: '127.0.0.1', port: stack.simulator.port, protocol: 'http' });
  router = createPaymentRouter({ gateways: [stripe] });
  worker = await Worker.create({
    connection: nativeConnection,
    taskQueue: purchaseQueue,
    workflowBundle: await bundleWorkflows(),
    activities: createPurchaseActivities({ pool: stack.pool, router, stripe }),
  });
  workerRun = worker.run();
  server = await new Promise((resolve) => {
    const s = purchasesApp().listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  ordersUrl = `http://127.0.0.1:${address.port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
  worker?.shutdown();
  await workerRun;
  router?.shutdown();
  await nativeConnection?.close();
  await stack?.close();
});

async function newCustomer(apiKey: string): Promise<string> {
  const created = await request(stack.baseUrl, 'POST', '/v1/customers', { apiKey, body: { email: `buyer-${randomUUID()}@example.com`, name: 'Course Buyer' } });
  expect(created.status).toBe(201);
  return created.body.id;
}

async function waitForOrder(apiKey: string, orderId: string, done: (view: OrderView) => boolean, what: string): Promise<OrderView> {
  return waitFor(async () => {
    const response = await request(ordersUrl, 'GET', `/v1/orders/${orderId}`, { apiKey });
    return response.status === 200 && done(response.body) ? (response.body as OrderView) : null;
  }, what);
}

const percentCoupon = (id: string, extra: object = {}) => ({
  id,
  name: `${id} test coupon`,
  discount: { kind: 'percent' as const, basisPoints: 1_000 },
  duration: { kind: 'once' as const },
  appliesTo: ['course'],
  ...extra,
});

describe('course orders over HTTP, end to end', () => {
  it('sells 3 courses with the 20% tier and a 10% promotion code for 215352 cents, once per Idempotency-Key; entitlements follow', async () => {
    const apiKey = await stack.apiKey();
    const customerId = await newCustomer(apiKey);
    // A Community subscription on the stack gives the customer 'community'.
    const subscription = await request(stack.baseUrl, 'POST', '/v1/subscriptions', {
      apiKey,
      body: { customerId, plan: 'community', interval: 'month', paymentMethod: 'pm_card_visa', trial: false },
    });
    expect(subscription.status).toBe(201);
    const subscriptionId: string = subscription.body.subscriptionId;
    await waitFor(async () => (await request(stack.baseUrl, 'GET', `/v1/subscriptions/${subscriptionId}`, { apiKey })).body.status === 'active', 'the subscription to be active');

    await insertCoupon(stack.pool, percentCoupon(`LAUNCH_${tag}`));
    await insertPromotionCode(stack.pool, { code: `LAUNCH10-${tag}`, couponId: `LAUNCH_${tag}`, active: true, maxRedemptions: 5 });

    const body = {
      customerId,
      courseIds: ['offer-design', 'sales-calls', 'content-engine'],
      paymentMethod: 'pm_card_visa',
      couponCode: `launch10-${tag.toLowerCase()}`, // codes match case-insensitively
    };
    const headers = { 'Idempotency-Key': `order-${customerId}` };
    const created = await request(ordersUrl, 'POST', '/v1/orders', { apiKey, body, headers });
    expect(created.status).toBe(201);
    const orderId: string = created.body.orderId;
    expect(orderId).toMatch(/^ord_[a-z0-9]{20}$/);
    // 3 x 99700 = 299100; bundle 20% -> 239280; coupon 10% of that -> 215352.
    expect(created.body.pricing).toMatchObject({
      subtotal: 299_100,
      discounts: { bundle: 59_820, coupon: 23_928 },
      total: 215_352,
      couponId: `LAUNCH_${tag}`,
      promotionCode: `LAUNCH10-${tag}`,
    });

    // A retried POST returns the same order and starts nothing new; another body with the key is refused.
    const retried = await request(ordersUrl, 'POST', '/v1/orders', { apiKey, body, headers });
    expect(retried.status).toBe(200);
    expect(retried.body.orderId).toBe(orderId);
    const reused = await request(ordersUrl, 'POST', '/v1/orders', { apiKey, body: { ...body, courseIds: ['offer-design'] }, headers });
    expect(reused.status).toBe(422);
    expect(reused.body.error).toMatchObject({ type: 'idempotency_key_reused', field: 'Idempotency-Key' });
    expect((await stack.temporal.workflow.count(`CustomerId = "${customerId}" AND TaskQueue = "${purchaseQueue}"`)).count).toBe(1);

    const paid = await waitForOrder(apiKey, orderId, (v) => v.status === 'paid', 'the order to be paid');
    expect(paid).toMatchObject({ paidInstallments: 1, amountPaid: 215_352, amountStillOwed: 0, nextDue: null, access: { status: 'granted' } });
    const invoiceId = paid.installments[0]!.invoiceId!;
    const charges = (await stack.simulator.charges()).filter((c) => c.metadata.invoice_id === invoiceId);
    expect(charges.map((c) => [c.amount, c.currency, c.idempotencyKey])).toEqual([[215_352, 'usd', `${invoiceId}:attempt-1`]]);
    expect(await accountBalances(stack.pool, [invoiceId])).toEqual([
      { account: 'accounts_receivable', balance: 0 },
      { account: 'cash:stripe', balance: 215_352 },
      { account: 'revenue', balance: -215_352 },
    ]);
    const redemptions = await stack.pool.any(sql.type(z.object({ coupon_id: z.string(), promotion_code: z.string().nullable() }))`
      SELECT coupon_id, promotion_code FROM coupon_redemptions WHERE order_id = ${orderId}`);
    expect(redemptions).toEqual([{ coupon_id: `LAUNCH_${tag}`, promotion_code: `LAUNCH10-${tag}` }]);

    const entitlements = await request(ordersUrl, 'GET', `/v1/customers/${customerId}/entitlements`, { apiKey });
    expect(entitlements.status).toBe(200);
    expect(entitlements.body.entitlements).toEqual(['community', 'course:content-engine', 'course:offer-design', 'course:sales-calls']);
    expect(entitlements.body.subscriptions).toEqual([{ subscriptionId, planId: 'community', status: 'active', entitlements: ['community'] }]);
    expect(entitlements.body.courses.map((c: { courseId: string; orderId: string }) => [c.courseId, c.orderId])).toEqual([
      ['content-engine', orderId],
      ['offer-design', orderId],
      ['sales-calls', orderId],
    ]);

    const canceled = await request(ordersUrl, 'POST', `/v1/orders/${orderId}/cancel-access`, { apiKey, body: { reason: 'changed my mind' } });
    expect(canceled.status).toBe(200);
    expect(canceled.body.access).toMatchObject({ status: 'canceled', reason: 'canceled by the buyer: changed my mind' });
    expect((await request(ordersUrl, 'GET', `/v1/customers/${customerId}/entitlements`, { apiKey })).body.entitlements).toEqual(['community']);
    const again = await request(ordersUrl, 'POST', `/v1/orders/${orderId}/cancel-access`, { apiKey, body: {} });
    expect(again.status).toBe(409);
    expect(again.body.error).toMatchObject({ type: 'invalid_state', message: 'cannot cancel access: access to this order was already canceled' });
    // Paid and no longer holding access, the order's workflow is done.
    const final = await stack.temporal.workflow.getHandle<typeof coursePurchaseWorkflow>(orderWorkflowId(orderId)).result();
    expect(final).toMatchObject({ status: 'paid', access: { status: 'canceled' } });
    expect((await request(ordersUrl, 'GET', `/v1/orders/${orderId}`, { apiKey })).body.status).toBe('paid');

    await request(stack.baseUrl, 'POST', `/v1/subscriptions/${subscriptionId}/cancel`, { apiKey, body: { when: 'now' } });
    await waitFor(async () => {
      const now = await request(ordersUrl, 'GET', `/v1/customers/${customerId}/entitlements`, { apiKey });
      return now.body.entitlements.length === 0;
    }, 'no entitlements once the subscription is canceled');
  });

  it('sells a course in 3 monthly payments: the first now, access until canceled, the other two still due', async () => {
    const apiKey = await stack.apiKey();
    const customerId = await newCustomer(apiKey);
    const created = await request(ordersUrl, 'POST', '/v1/orders', {
      apiKey,
      body: { customerId, courseIds: ['client-delivery'], currency: 'EUR', paymentMethod: 'pm_card_visa', plan: 'course-3-monthly' },
    });
    expect(created.status).toBe(201);
    const orderId: string = created.body.orderId;
    const view = await waitForOrder(apiKey, orderId, (v) => v.paidInstallments === 1, 'the first installment');
    // EUR 92700 in three: 30900 each.
    const dueDates = [0, 1, 2].map((i) => periodStart(view.orderedAt, 'month', i));
    expect(view.installments.map((i) => [i.dueAt, i.amount, i.status])).toEqual([
      [dueDates[0], 30_900, 'paid'],
      [dueDates[1], 30_900, 'scheduled'],
      [dueDates[2], 30_900, 'scheduled'],
    ]);
    expect(view).toMatchObject({ status: 'active', currency: 'EUR', amountStillOwed: 61_800, nextDue: { index: 1, dueAt: dueDates[1], amount: 30_900 } });
    expect((await request(ordersUrl, 'GET', `/v1/customers/${customerId}/entitlements`, { apiKey })).body.entitlements).toEqual(['course:client-delivery']);

    const canceled = await request(ordersUrl, 'POST', `/v1/orders/${orderId}/cancel-access`, { apiKey });
    expect(canceled.status).toBe(200);
    expect(canceled.body).toMatchObject({ status: 'active', access: { status: 'canceled' }, entitlements: [], amountStillOwed: 61_800, nextDue: { index: 1, dueAt: dueDates[1] } });
    expect((await request(ordersUrl, 'GET', `/v1/customers/${customerId}/entitlements`, { apiKey })).body.entitlements).toEqual([]);
    await waitFor(async () => (await findOrderRow(stack.pool, orderId))?.status === 'active', 'the order row to say active');
    expect((await listOrderInstallments(stack.pool, orderId)).map((i) => [i.status, i.amount])).toEqual([
      ['paid', 30_900],
      ['scheduled', 30_900],
      ['scheduled', 30_900],
    ]);
  });

  it('answers 404 for an unknown order or customer, and 403 outside the key scope', async () => {
    const apiKey = await stack.apiKey();
    expect((await request(ordersUrl, 'GET', '/v1/orders/ord_doesnotexist00000000', { apiKey })).status).toBe(404);
    expect((await request(ordersUrl, 'POST', '/v1/orders/ord_doesnotexist00000000/cancel-access', { apiKey, body: {} })).status).toBe(404);
    expect((await request(ordersUrl, 'GET', '/v1/customers/cus_nobody00000000000000/entitlements', { apiKey })).status).toBe(404);
    const readOnly = await stack.apiKey(['subscriptions:read']);
    const forbidden = await request(ordersUrl, 'GET', '/v1/customers/cus_nobody00000000000000/entitlements', { apiKey: readOnly });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.error.message).toContain("lacks the 'customers:read' scope");
  });
});

describe('coupon redemption limits', () => {
  async function order(customerId: string, couponId: string, promotionCode: string | null = null): Promise<PlacedCourseOrder> {
    const orderId = `ord_r${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    return {
      orderId,
      customerId,
      currency: 'USD',
      paymentPlan: 'pay_in_full',
      subtotal: 99_700,
      discount: 9_970,
      total: 89_730,
      bundleBasisPoints: null,
      couponId,
      promotionCode,
      paymentMethodToken: 'pm_card_visa',
      orderedAt: new Date().toISOString(),
      workflowId: orderWorkflowId(orderId),
      items: [{ courseId: 'offer-design', priceId: 'course-offer-design-v1', catalogVersion: 1, unitAmount: 99_700, discountAmount: 9_970 }],
      installments: [{ index: 0, dueAt: new Date().toISOString(), amount: 89_730 }],
    };
  }

  it('redeems a coupon at most max_redemptions times when 10 orders race for it; a placed order placed again changes nothing', async () => {
    const customerId = `cus_r${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    await insertCustomer(stack.pool, { id: customerId, email: 'race@example.test', name: 'Race', country: 'US' });
    const couponId = `RACE_${tag}`;
    await insertCoupon(stack.pool, percentCoupon(couponId, { maxRedemptions: 3 }));
    const orders = await Promise.all(Array.from({ length: 10 }, () => order(customerId, couponId)));
    const results = await Promise.all(orders.map((o) => placeCourseOrder(stack.pool, o)));
    expect(results.filter((r) => r.ok)).toHaveLength(3);
    expect(results.filter((r) => !r.ok).map((r) => (r.ok ? null : r.reason))).toEqual(
      Array(7).fill(`coupon ${couponId} has reached its limit of 3 redemptions`),
    );
    const placed = orders.filter((_, i) => results[i]!.ok);
    // Refused orders left nothing behind.
    const orderCount = await stack.pool.oneFirst(sql.type(z.object({ n: z.number() }))`
      SELECT count(*)::int8 AS n FROM orders WHERE customer_id = ${customerId}`);
    expect(orderCount).toBe(3);
    // Placing an already placed order again (an activity retry) succeeds without a second redemption.
    expect(await placeCourseOrder(stack.pool, placed[0]!)).toEqual({ ok: true });
    expect((await findCouponForCode(stack.pool, couponId))?.couponRedemptions).toBe(3);
    // The database refuses a redemption past the limit from any writer.
    await expect(
      stack.pool.query(sql.unsafe`
        INSERT INTO coupon_redemptions (coupon_id, order_id, customer_id, redeemed_at)
        VALUES (${couponId}, ${placed[0]!.orderId}, ${customerId}, now())`),
    ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/limit of 3 redemptions|duplicate key/) } }); // PostgreSQL's own sentence
  });

  it('a promotion code has its own limit', async () => {
    const customerId = `cus_p${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    await insertCustomer(stack.pool, { id: customerId, email: 'promo@example.test', name: 'Promo', country: 'US' });
    const couponId = `PROMO_${tag}`;
    await insertCoupon(stack.pool, percentCoupon(couponId));
    await insertPromotionCode(stack.pool, { code: `ONCE-${tag}`, couponId, active: true, maxRedemptions: 1 });
    expect(await placeCourseOrder(stack.pool, await order(customerId, couponId, `ONCE-${tag}`))).toEqual({ ok: true });
    expect(await placeCourseOrder(stack.pool, await order(customerId, couponId, `ONCE-${tag}`))).toEqual({
      ok: false,
      reason: `promotion code ONCE-${tag} has reached its limit of 1 redemptions`,
    });
    // The coupon itself (no limit) still redeems without the code.
    expect(await placeCourseOrder(stack.pool, await order(customerId, couponId))).toEqual({ ok: true });
  });

  it('an order whose coupon ran out between the API check and placement is rejected by its workflow, charging and writing nothing', async () => {
    const customerId = `cus_w${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    await insertCustomer(stack.pool, { id: customerId, email: 'late@example.test', name: 'Late', country: 'US' });
    const couponId = `LATE_${tag}`;
    await insertCoupon(stack.pool, percentCoupon(couponId, { maxRedemptions: 1 }));
    expect(await placeCourseOrder(stack.pool, await order(customerId, couponId))).toEqual({ ok: true });
    const coupon = (await findCouponForCode(stack.pool, couponId))!.coupon;
    const orderId = `ord_w${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    const result = await stack.temporal.workflow.execute(coursePurchaseWorkflow, {
      workflowId: orderWorkflowId(orderId),
      taskQueue: purchaseQueue,
      args: [{ orderId, customerId, courseIds: ['offer-design'], currency: 'USD', paymentMethodToken: 'pm_card_visa', coupon }],
    });
    expect(result).toMatchObject({ status: 'rejected', rejection: `coupon ${couponId} has reached its limit of 1 redemptions`, installments: [{ status: 'scheduled', attempts: 0 }] });
    expect(await findOrderRow(stack.pool, orderId)).toBeNull();
  });
});

// ---- Validation: each bad request gets the right 4xx naming the field, and writes nothing ----

const validationCustomer = `cus_v${randomUUID().replace(/-/g, '').slice(0, 20)}`;
const counts = z.object({
  orders: z.number(),
  order_items: z.number(),
  order_installments: z.number(),
  redemptions: z.number(),
  grants: z.number(),
  invoices: z.number(),
  idempotency: z.number(),
});

/** What this file's validation customer and API key have written, and the workflows on this file's queue. */
async function snapshot(apiKey: string) {
  const apiKeyId = /^dbk_([a-z0-9]{12})_/.exec(apiKey)![1]!;
  const rows = await stack.pool.one(sql.type(counts)`
    SELECT (SELECT count(*) FROM orders WHERE customer_id = ${validationCustomer})::int8 AS orders,
           (SELECT count(*) FROM order_items i JOIN orders o ON o.id = i.order_id
             WHERE o.customer_id = ${validationCustomer})::int8 AS order_items,
           (SELECT count(*) FROM order_installments i JOIN orders o ON o.id = i.order_id
             WHERE o.customer_id = ${validationCustomer})::int8 AS order_installments,
           (SELECT count(*) FROM coupon_redemptions WHERE customer_id = ${validationCustomer})::int8 AS redemptions,
           (SELECT count(*) FROM course_access_grants WHERE customer_id = ${validationCustomer})::int8 AS grants,
           (SELECT count(*) FROM invoices WHERE customer_id = ${validationCustomer})::int8 AS invoices,
           (SELECT count(*) FROM api_idempotency_keys WHERE api_key_id = ${apiKeyId})::int8 AS idempotency`);
  const workflows = await stack.temporal.workflow.count(`TaskQueue = "${purchaseQueue}"`);
  return { ...rows, workflows: workflows.count };
}

const validOrder = () => ({ customerId: validationCustomer, courseIds: ['offer-design', 'sales-calls'], paymentMethod: 'pm_card_visa' });

type Case = {
  name: string;
  method?: string;
  path?: string;
  body?: unknown;
  auth?: 'read-only';
  status: number;
  type: string;
  field?: string;
  message?: string | RegExp;
};

const cases: Case[] = [
  { name: 'an unknown course id', body: { ...validOrder(), courseIds: ['offer-design', 'astrology'] }, status: 400, type: 'invalid_request', field: 'courseIds', message: /^courseIds: unknown course 'astrology'; choose one of offer-design, sales-calls, content-engine, client-delivery$/ },
  { name: 'a course listed twice', body: { ...validOrder(), courseIds: ['offer-design', 'offer-design'] }, status: 400, type: 'invalid_request', field: 'courseIds', message: "courseIds: course 'offer-design' is listed twice; each course is bought once" },
  { name: 'no courses', body: { ...validOrder(), courseIds: [] }, status: 400, type: 'invalid_request', field: 'courseIds', message: 'courseIds: an order needs at least one course' },
  { name: 'an expired coupon', body: { ...validOrder(), couponCode: `EXPIRED_${tag}` }, status: 400, type: 'invalid_request', field: 'couponCode', message: `couponCode: coupon EXPIRED_${tag} expired on 2020-01-01` },
  { name: 'a coupon not valid for courses', body: { ...validOrder(), couponCode: `COMMUNITY_${tag}` }, status: 400, type: 'invalid_request', field: 'couponCode', message: `couponCode: coupon COMMUNITY_${tag} does not apply to course; it is for community only` },
  { name: 'an amount coupon in another currency', body: { ...validOrder(), currency: 'EUR', couponCode: `USD50_${tag}` }, status: 400, type: 'invalid_request', field: 'couponCode', message: `couponCode: coupon USD50_${tag} has no EUR amount` },
  { name: 'a coupon at its redemption limit', body: { ...validOrder(), couponCode: `USEDUP_${tag}` }, status: 400, type: 'invalid_request', field: 'couponCode', message: `couponCode: coupon USEDUP_${tag} has reached its limit of 1 redemptions` },
  { name: 'an inactive promotion code', body: { ...validOrder(), couponCode: `paused-${tag.toLowerCase()}` }, status: 400, type: 'invalid_request', field: 'couponCode', message: `couponCode: promotion code PAUSED-${tag} is no longer active` },
  { name: 'a code that does not exist', body: { ...validOrder(), couponCode: 'NOPE' }, status: 400, type: 'invalid_request', field: 'couponCode', message: "couponCode: no coupon or promotion code 'NOPE' exists" },
  { name: 'an unknown payment plan', body: { ...validOrder(), plan: 'course-12-weekly' }, status: 400, type: 'invalid_request', field: 'plan', message: "plan: unknown payment plan 'course-12-weekly'; choose one of pay_in_full, course-3-monthly" },
  { name: 'an unsupported currency', body: { ...validOrder(), currency: 'JPY' }, status: 400, type: 'invalid_request', field: 'currency' },
  { name: 'a card number instead of a token', body: { ...validOrder(), paymentMethod: '4242424242424242' }, status: 400, type: 'invalid_request', field: 'paymentMethod', message: /card numbers are never accepted/ },
  { name: 'an unknown field', body: { ...validOrder(), discount: 50 }, status: 400, type: 'invalid_request', field: 'discount', message: 'discount: unknown field' },
  { name: 'courseIds that is not a list', body: { ...validOrder(), courseIds: 'offer-design' }, status: 400, type: 'invalid_request', field: 'courseIds' },
  { name: 'a customer that does not exist', body: { ...validOrder(), customerId: 'cus_nobody00000000000000' }, status: 404, type: 'not_found', field: 'customerId' },
  { name: 'a key without the write scope', auth: 'read-only', body: validOrder(), status: 403, type: 'forbidden', message: "lacks the 'subscriptions:write' scope" },
  { name: 'a cancel-access with an unknown field', path: '/v1/orders/ord_nothere/cancel-access', body: { when: 'now' }, status: 400, type: 'invalid_request', field: 'when' },
  { name: 'entitlements at a bad instant', method: 'GET', path: `/v1/customers/${validationCustomer}/entitlements?at=yesterday`, status: 400, type: 'invalid_request', field: 'at' },
];

describe('order input validation', () => {
  let apiKey: string;
  beforeAll(async () => {
    apiKey = await stack.apiKey();
    await insertCustomer(stack.pool, { id: validationCustomer, email: 'valid@example.test', name: 'Valid', country: 'US' });
    await insertCoupon(stack.pool, percentCoupon(`EXPIRED_${tag}`, { redeemBy: '2020-01-01T00:00:00.000Z' }));
    await insertCoupon(stack.pool, percentCoupon(`COMMUNITY_${tag}`, { appliesTo: ['community'] }));
    await insertCoupon(stack.pool, percentCoupon(`USD50_${tag}`, { discount: { kind: 'amount', amounts: { USD: 5_000 } } }));
    await insertCoupon(stack.pool, percentCoupon(`USEDUP_${tag}`, { maxRedemptions: 1 }));
    await insertCoupon(stack.pool, percentCoupon(`PAUSEDC_${tag}`));
    await insertPromotionCode(stack.pool, { code: `PAUSED-${tag}`, couponId: `PAUSEDC_${tag}`, active: false });
    const usedUp = await findCouponForCode(stack.pool, `USEDUP_${tag}`);
    const orderId = `ord_u${randomUUID().replace(/-/g, '').slice(0, 20)}`;
    expect(
      await placeCourseOrder(stack.pool, {
        orderId,
        customerId: validationCustomer,
        currency: 'USD',
        paymentPlan: 'pay_in_full',
        subtotal: 99_700,
        discount: 9_970,
        total: 89_730,
        bundleBasisPoints: null,
        couponId: usedUp!.coupon.id,
        promotionCode: null,
        paymentMethodToken: 'pm_card_visa',
        orderedAt: new Date().toISOString(),
        workflowId: orderWorkflowId(orderId),
        items: [{ courseId: 'offer-design', priceId: 'course-offer-design-v1', catalogVersion: 1, unitAmount: 99_700, discountAmount: 9_970 }],
        installments: [{ index: 0, dueAt: new Date().toISOString(), amount: 89_730 }],
      }),
    ).toEqual({ ok: true });
  });

  it.each(cases)('refuses $name with $status and writes nothing', async (c) => {
    const key = c.auth === 'read-only' ? await stack.apiKey(['subscriptions:read', 'customers:read']) : apiKey;
    const before = await snapshot(key);
    const response = await request(ordersUrl, c.method ?? 'POST', c.path ?? '/v1/orders', {
      apiKey: key,
      body: c.body,
      headers: { 'Idempotency-Key': `order-validation-${tag}-${c.name}` },
    });
    expect(response.status).toBe(c.status);
    expect(response.body.error.type).toBe(c.type);
    expect(response.body.error.requestId).toBe(response.headers.get('x-request-id'));
    if (c.field) expect(response.body.error.field).toBe(c.field);
    if (c.message) expect(response.body.error.message).toMatch(c.message);
    expect(await snapshot(key)).toEqual(before);
  });
});
