// The course purchase workflow under Temporal's time-skipping test server, with the real
// activities: PostgreSQL for orders, invoices and the ledger, the Stripe simulator (validated by
// stripe-mock) as the gateway. Every date and cent below is worked out by hand.
//
// Time-skipping lessons (see subscription.test.ts): a plain Client, not env.client, so the clock
// only moves when skipTo moves it; each test in a later year than the one before; let each
// workflow finish while its worker runs.
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { accountBalances } from '../../db/ledger';
import { listNotices } from '../../db/notifications';
import { DEFAULT_DUNNING_POLICY, type DunningPolicy } from '../../domain/dunning';
import { listAttemptsForInvoices } from '../../db/payments';
import type { DatabasePool } from '../../db/pool';
import {
  customerEntitlementsAt,
  findCouponForCode,
  findOrderRow,
  insertCoupon,
  listOrderGrants,
  listOrderInstallments,
  listOrderItems,
} from '../../db/purchases';
import { STACKING_RULE } from '../../domain/discounts';
import { installmentInvoiceId } from '../../domain/installments';
import type { PaymentRouter } from '../../gateways/router';
import { createBillingWorker } from '../../workers/billing-worker';
import { createStripeGateway } from '../../gateways/stripe';
import { coursePurchaseWorkflow, type CoursePurchaseInput } from '../../workflows/course-purchase';
import { cancelAccess, getOrder, orderPaymentMethodUpdated, orderWorkflowId } from '../../workflows/purchase-messages';
import type { StripeSimulator } from '../peers/stripe-simulator';
import {
  createTestCustomer,
  uniqueTaskQueue,
  waitFor,
} from '../support/environment';
import { recordHistoryIfAsked } from '../support/record-history';
import { skipTo as skipToInstant, startTimeSkippingTestbed, type TimeSkippingTestbed } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
let pool: DatabasePool;
let simulator: StripeSimulator;
let bundle: WorkflowBundleWithSourceMap;
let client: Client;
const routers: PaymentRouter[] = [];

let testbed: TimeSkippingTestbed;

beforeAll(async () => {
  testbed = await startTimeSkippingTestbed();
  ({ env, pool, simulator, bundle, client } = testbed);
});

afterAll(async () => {
  for (const router of routers) router.shutdown();
  await testbed?.teardown();
});

async function newWorker(taskQueue: string): Promise<Worker> {
  // The production wiring: installment dunning also needs the notice and retry-model activities.
  const stripe = createStripeGateway({ apiKey: 'sk_test_purchasetests', host: '127.0.0.1', port: simulator.port, protocol: 'http' });
  const billing = await createBillingWorker({ connection: env.nativeConnection, taskQueue, pool, gateways: [stripe], workflowBundle: bundle });
  routers.push(billing.router);
  return billing.worker;
}

/** Retries on days 1, 3, 5 and 7 after the first failure: dates a test can state. */
const FIXED_POLICY: DunningPolicy = { ...DEFAULT_DUNNING_POLICY, strategy: 'fixed' };

/** Every order a test started: time moves only while they are all idle. */
const orders: WorkflowHandle[] = [];

function skipTo(instant: string): Promise<void> {
  return skipToInstant(testbed.clock, instant, orders);
}

function uniqueOrderId(): string {
  return `ord_t${randomUUID().replace(/-/g, '').slice(0, 20)}`;
}

/**
 * Starts an order an hour before it is placed: the test server times a workflow out ten years
 * after its start, so each order starts near its own date rather than at today's.
 */
async function startOrder(taskQueue: string, order: Omit<CoursePurchaseInput, 'orderId' | 'customerId'> & { orderedAt: string }) {
  await skipTo(new Date(Date.parse(order.orderedAt) - 3_600_000).toISOString());
  const customerId = await createTestCustomer(pool, 'Course Buyer');
  const orderId = uniqueOrderId();
  const handle = await client.workflow.start(coursePurchaseWorkflow, {
    workflowId: orderWorkflowId(orderId),
    taskQueue,
    args: [{ orderId, customerId, ...order }],
  });
  orders.push(handle);
  return { handle, orderId, customerId };
}

type OrderHandle = WorkflowHandle<typeof coursePurchaseWorkflow>;

async function waitForPaidInstallments(handle: OrderHandle, count: number) {
  return waitFor(async () => {
    const view = await handle.query(getOrder);
    return view.paidInstallments >= count ? view : null;
  }, `${count} paid installments`);
}

async function chargesFor(invoiceIds: readonly string[]) {
  return (await simulator.charges()).filter((c) => invoiceIds.includes(c.metadata.invoice_id ?? ''));
}

async function attemptsOf(invoiceId: string) {
  return (await listAttemptsForInvoices(pool, [invoiceId])).map((a) => [a.attempt, a.outcome, a.decline_code]);
}

/**
 * Moves the clock to `instant` and waits until the workflow itself has seen `count` attempts on
 * the installment (the attempt rows are written before the workflow learns the outcome).
 */
async function skipToAndWaitForAttempts(handle: OrderHandle, instant: string, index: number, count: number) {
  await skipTo(instant);
  return waitFor(async () => {
    const view = await handle.query(getOrder);
    return (view.installments[index]?.attempts ?? 0) >= count ? view : null;
  }, `${count} attempts on installment ${index + 1}`);
}

const invoiceRow = z.object({ id: z.string(), subtotal: z.number(), total: z.number(), status: z.string(), issued_at: z.string() });
async function invoicesOf(ids: readonly string[]) {
  return pool.any(sql.type(invoiceRow)`
    SELECT id, subtotal, total, status, issued_at FROM invoices WHERE id = ANY(${sql.array([...ids], 'text')}) ORDER BY id`);
}

const lineRow = z.object({ amount: z.number(), description: z.string() });

describe('course purchase workflow (time-skipping)', () => {
  it('sells a bundle of 3 courses with the 20% tier and a 10% coupon for 215352 cents, charged once', async () => {
    const taskQueue = uniqueTaskQueue('bundle');
    const worker = await newWorker(taskQueue);
    const couponId = `TEN_${randomUUID().slice(0, 8)}`;
    await insertCoupon(pool, {
      id: couponId,
      name: '10% off courses',
      discount: { kind: 'percent', basisPoints: 1_000 },
      duration: { kind: 'once' },
      appliesTo: ['course'],
      maxRedemptions: 100,
    });
    const coupon = (await findCouponForCode(pool, couponId))!.coupon;
    await worker.runUntil(async () => {
      const orderedAt = '2041-03-15T10:00:00.000Z';
      const { handle, orderId, customerId } = await startOrder(taskQueue, {
        courseIds: ['offer-design', 'sales-calls', 'content-engine'],
        currency: 'USD',
        paymentMethodToken: 'pm_card_visa',
        paymentPlan: 'pay_in_full',
        coupon,
        orderedAt,
      });
      await skipTo(orderedAt);
      const view = await waitFor(async () => {
        const v = await handle.query(getOrder);
        return v.status === 'paid' ? v : null;
      }, 'the order to be paid');

      // The stacking rule (domain/discounts.ts): bundle tier first, coupon on what is left.
      //   list prices      3 x 99700               = 299100
      //   bundle tier 20%  299100 x 20% = 59820  -> 239280
      //   coupon 10%       239280 x 10% = 23928  -> 215352
      // 28% off in all (not 30%): the percentages compound.
      expect(view.pricing).toEqual({
        subtotal: 299_100,
        discount: 83_748,
        discounts: { bundle: 59_820, coupon: 23_928 },
        total: 215_352,
        bundleTier: { minCourses: 3, basisPoints: 2_000 },
        couponId,
        promotionCode: null,
        stackingRule: STACKING_RULE,
      });
      const invoiceId = installmentInvoiceId(orderId, 0);
      expect(view.installments).toEqual([
        { index: 0, dueAt: orderedAt, amount: 215_352, status: 'paid', invoiceId, attempts: 1, paidAt: expect.any(String) },
      ]);
      expect(view.installments[0]!.paidAt!.slice(0, 19)).toBe('2041-03-15T10:00:00');
      expect(view).toMatchObject({ paidInstallments: 1, amountPaid: 215_352, amountStillOwed: 0, nextDue: null });
      expect(view.access).toMatchObject({ status: 'granted', endedAt: null });
      expect(view.entitlements).toEqual(['course:offer-design', 'course:sales-calls', 'course:content-engine']);

      // Each course: 99700 - 19940 (a third of the bundle discount) - 7976 (a third of the coupon) = 71784.
      expect(await listOrderItems(pool, orderId)).toEqual(
        ['offer-design', 'sales-calls', 'content-engine'].map((course_id) => ({ course_id, unit_amount: 99_700, discount_amount: 27_916, amount: 71_784 })),
      );
      expect(await invoicesOf([invoiceId])).toEqual([
        { id: invoiceId, subtotal: 299_100, total: 215_352, status: 'paid', issued_at: orderedAt },
      ]);
      const lines = await pool.any(sql.type(lineRow)`SELECT amount, description FROM invoice_lines WHERE invoice_id = ${invoiceId} ORDER BY position`);
      expect(lines.map((l) => l.amount)).toEqual([99_700, 99_700, 99_700]);

      // Charged once, for the whole order, under the invoice attempt's key.
      expect((await chargesFor([invoiceId])).map((c) => [c.amount, c.currency, c.idempotencyKey])).toEqual([[215_352, 'usd', `${invoiceId}:attempt-1`]]);
      expect(await accountBalances(pool, [invoiceId])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:stripe', balance: 215_352 },
        { account: 'revenue', balance: -215_352 },
      ]);
      const redemptions = await pool.oneFirst(sql.type(z.object({ n: z.number() }))`
        SELECT count(*)::int8 AS n FROM coupon_redemptions WHERE coupon_id = ${couponId} AND order_id = ${orderId}`);
      expect(redemptions).toBe(1);
      // The read model follows the workflow (written by the activity after the payment).
      await waitFor(async () => (await findOrderRow(pool, orderId))?.status === 'paid', 'the order row to say paid');
      expect(await findOrderRow(pool, orderId)).toMatchObject({ status: 'paid', subtotal: 299_100, discount: 83_748, total: 215_352, coupon_id: couponId });
      expect((await customerEntitlementsAt(pool, customerId, '2041-03-16T00:00:00.000Z')).entitlements).toEqual([
        'course:content-engine',
        'course:offer-design',
        'course:sales-calls',
      ]);

      // Paid in full, the order stays open to answer cancelAccess; once access ends it completes.
      await skipTo('2041-06-01T00:00:00.000Z');
      const canceled = await handle.executeUpdate(cancelAccess, { args: [{ reason: 'refund requested elsewhere' }] });
      expect(canceled.access).toMatchObject({ status: 'canceled', reason: 'canceled by the buyer: refund requested elsewhere' });
      expect(canceled.entitlements).toEqual([]);
      const final = await handle.result();
      expect(final).toMatchObject({ status: 'paid', amountPaid: 215_352 });
      expect((await customerEntitlementsAt(pool, customerId, '2041-06-02T00:00:00.000Z')).entitlements).toEqual([]);
      expect(await chargesFor([invoiceId])).toHaveLength(1);
    });
  });

  it('collects 3 monthly installments on their dates; canceling access after the first ends access but not the payments', async () => {
    const taskQueue = uniqueTaskQueue('installments');
    const worker = await newWorker(taskQueue);
    await worker.runUntil(async () => {
      // A month-end first payment: the next ones clamp to Feb 28 and come back to Mar 31.
      const orderedAt = '2042-01-31T15:00:00.000Z';
      const { handle, orderId, customerId } = await startOrder(taskQueue, {
        courseIds: ['offer-design'],
        currency: 'USD',
        paymentMethodToken: 'pm_card_visa',
        paymentPlan: 'course-3-monthly',
        orderedAt,
      });
      const invoiceIds = [0, 1, 2].map((i) => installmentInvoiceId(orderId, i));
      await skipTo(orderedAt);
      const afterFirst = await waitForPaidInstallments(handle, 1);
      // 99700 in three: 33233.33... each; cumulative rounding puts the extra cent in the middle:
      // round(99700/3) = 33233, round(2 x 99700/3) = 66467 -> 33234, 99700 - 66467 = 33233.
      expect(afterFirst.installments.map((i) => [i.dueAt, i.amount, i.status])).toEqual([
        ['2042-01-31T15:00:00.000Z', 33_233, 'paid'],
        ['2042-02-28T15:00:00.000Z', 33_234, 'scheduled'],
        ['2042-03-31T15:00:00.000Z', 33_233, 'scheduled'],
      ]);
      expect(afterFirst).toMatchObject({
        status: 'active',
        amountPaid: 33_233,
        amountStillOwed: 66_467,
        nextDue: { index: 1, dueAt: '2042-02-28T15:00:00.000Z', amount: 33_234, retryAt: null },
        entitlements: ['course:offer-design'],
        pricing: { subtotal: 99_700, discount: 0, total: 99_700, bundleTier: null, couponId: null },
      });
      expect((await customerEntitlementsAt(pool, customerId, '2042-02-01T00:00:00.000Z')).entitlements).toEqual(['course:offer-design']);

      // The buyer cancels access the next morning: access ends now, installments 2 and 3 stay due.
      await skipTo('2042-02-01T09:00:00.000Z');
      const canceled = await handle.executeUpdate(cancelAccess, { args: [{}] });
      expect(canceled.access.status).toBe('canceled');
      expect(canceled.access.endedAt?.slice(0, 19)).toBe('2042-02-01T09:00:00');
      expect(canceled.entitlements).toEqual([]);
      expect(canceled).toMatchObject({ status: 'active', amountStillOwed: 66_467, nextDue: { index: 1, dueAt: '2042-02-28T15:00:00.000Z' } });
      await expect(handle.executeUpdate(cancelAccess, { args: [{}] })).rejects.toMatchObject({
        cause: { message: 'access to this order was already canceled' },
      });
      const grants = await listOrderGrants(pool, orderId);
      expect(grants).toHaveLength(1);
      expect(grants[0]).toMatchObject({ course_id: 'offer-design', entitlement: 'course:offer-design', revoke_reason: 'canceled by the buyer' });
      expect(grants[0]!.granted_at.slice(0, 19)).toBe('2042-01-31T15:00:00');
      expect(grants[0]!.revoked_at!.slice(0, 19)).toBe('2042-02-01T09:00:00');
      // Entitlements as of any instant: held between the first payment and the cancel, not after.
      expect((await customerEntitlementsAt(pool, customerId, '2042-01-31T20:00:00.000Z')).entitlements).toEqual(['course:offer-design']);
      expect((await customerEntitlementsAt(pool, customerId, '2042-02-01T10:00:00.000Z')).entitlements).toEqual([]);

      await skipTo('2042-02-28T15:00:00.000Z');
      const afterSecond = await waitForPaidInstallments(handle, 2);
      expect(afterSecond.installments[1]!.paidAt!.slice(0, 19)).toBe('2042-02-28T15:00:00');
      expect(afterSecond.entitlements).toEqual([]);
      await skipTo('2042-03-31T15:00:00.000Z');
      const final = await handle.result();
      expect(final).toMatchObject({ status: 'paid', paidInstallments: 3, amountPaid: 99_700, amountStillOwed: 0, nextDue: null, entitlements: [] });
      expect(final.access.status).toBe('canceled');

      // Three invoices, one per installment, issued on the due dates; three charges that add up to 99700.
      expect((await invoicesOf(invoiceIds)).map((i) => [i.issued_at, i.total, i.status])).toEqual([
        ['2042-01-31T15:00:00.000Z', 33_233, 'paid'],
        ['2042-02-28T15:00:00.000Z', 33_234, 'paid'],
        ['2042-03-31T15:00:00.000Z', 33_233, 'paid'],
      ]);
      const charges = await chargesFor(invoiceIds);
      expect(charges.map((c) => [c.metadata.invoice_id, c.amount])).toEqual(invoiceIds.map((id, i) => [id, [33_233, 33_234, 33_233][i]]));
      expect((await listOrderInstallments(pool, orderId)).map((i) => [i.installment_index, i.status, i.attempts, i.paid_at?.slice(0, 19)])).toEqual([
        [0, 'paid', 1, '2042-01-31T15:00:00'],
        [1, 'paid', 1, '2042-02-28T15:00:00'],
        [2, 'paid', 1, '2042-03-31T15:00:00'],
      ]);
      expect(await accountBalances(pool, invoiceIds)).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:stripe', balance: 99_700 },
        { account: 'revenue', balance: -99_700 },
      ]);
      expect((await findOrderRow(pool, orderId))?.status).toBe('paid');
    });
  });

  it('retries a declined installment on the dunning schedule (days 1 and 3), recovers on a new card, and keeps the next date', async () => {
    const taskQueue = uniqueTaskQueue('installment-dunning');
    const worker = await newWorker(taskQueue);
    await worker.runUntil(async () => {
      const orderedAt = '2043-01-10T12:00:00.000Z';
      const { handle, orderId } = await startOrder(taskQueue, {
        courseIds: ['sales-calls'],
        currency: 'USD',
        paymentMethodToken: 'pm_card_visa',
        paymentPlan: 'course-3-monthly',
        orderedAt,
        dunningPolicy: FIXED_POLICY,
      });
      const [first, second, third] = [0, 1, 2].map((i) => installmentInvoiceId(orderId, i)) as [string, string, string];
      await skipTo(orderedAt);
      await waitForPaidInstallments(handle, 1);
      // The card on file is replaced by one that will be declined.
      await handle.signal(orderPaymentMethodUpdated, { token: 'pm_card_chargeDeclinedInsufficientFunds' });

      const pastDue = await skipToAndWaitForAttempts(handle, '2043-02-10T12:00:00.000Z', 1, 1);
      expect(pastDue.status).toBe('past_due');
      expect(pastDue.installments[1]).toMatchObject({ status: 'past_due', attempts: 1 });
      expect(pastDue.nextDue).toMatchObject({ index: 1, dueAt: '2043-02-10T12:00:00.000Z', amount: 33_234 });
      expect(pastDue.nextDue?.retryAt?.slice(0, 19)).toBe('2043-02-11T12:00:00'); // first failure + 1 day
      // Access continues while the installment is in recovery, as for a past_due subscription.
      expect(pastDue.entitlements).toEqual(['course:sales-calls']);
      expect((await skipToAndWaitForAttempts(handle, '2043-02-11T12:00:00.000Z', 1, 2)).nextDue?.retryAt?.slice(0, 19)).toBe('2043-02-13T12:00:00'); // + 3 days
      expect((await skipToAndWaitForAttempts(handle, '2043-02-13T12:00:00.000Z', 1, 3)).nextDue?.retryAt?.slice(0, 19)).toBe('2043-02-15T12:00:00'); // + 5 days

      // A new card retries at once, not at the next scheduled retry.
      await skipTo('2043-02-14T08:00:00.000Z');
      await handle.signal(orderPaymentMethodUpdated, { token: 'pm_card_mastercard' });
      const recovered = await waitForPaidInstallments(handle, 2);
      recordHistoryIfAsked(process.env.RECORD_HISTORY_NAME ?? 'v2-course-installment-recovered-by-new-card', handle, env.address);
      expect(recovered.status).toBe('active');
      expect(recovered.lastPayment).toMatchObject({ installmentIndex: 1, outcome: 'succeeded', amount: 33_234 });
      expect(recovered.lastPayment?.at.slice(0, 19)).toBe('2043-02-14T08:00:00');
      expect(await attemptsOf(second)).toEqual([
        [1, 'declined', 'insufficient_funds'],
        [2, 'declined', 'insufficient_funds'],
        [3, 'declined', 'insufficient_funds'],
        [4, 'succeeded', null],
      ]);
      // Dunning's notices: the payment-failed one (withdrawn here, where no sender runs, once the
      // installment was paid) and the recovery; no final notice, as retry 4 was never scheduled.
      expect((await listNotices(pool, { invoiceId: second })).map((n) => [n.kind, n.send_after.slice(0, 19), n.canceled_at !== null])).toEqual([
        ['payment_failed', '2043-02-10T12:00:00', true],
        ['recovered', '2043-02-14T08:00:00', false],
      ]);
      // The third installment keeps its own date.
      expect(recovered.nextDue).toEqual({ index: 2, dueAt: '2043-03-10T12:00:00.000Z', amount: 33_233, retryAt: null });

      await skipTo('2043-03-10T12:00:00.000Z');
      const paid = await waitFor(async () => {
        const v = await handle.query(getOrder);
        return v.status === 'paid' ? v : null;
      }, 'the last installment');
      expect(paid.installments[2]!.paidAt!.slice(0, 19)).toBe('2043-03-10T12:00:00');
      expect((await chargesFor([first, second, third])).map((c) => [c.paymentMethod, c.amount])).toEqual([
        ['pm_card_visa', 33_233],
        ['pm_card_mastercard', 33_234],
        ['pm_card_mastercard', 33_233],
      ]);
      await waitFor(async () => (await listOrderInstallments(pool, orderId))[2]?.status === 'paid', 'the read model of the last installment');
      expect((await listOrderInstallments(pool, orderId)).map((i) => [i.status, i.attempts])).toEqual([
        ['paid', 1],
        ['paid', 4],
        ['paid', 1],
      ]);
      await handle.executeUpdate(cancelAccess, { args: [{}] });
      expect((await handle.result()).status).toBe('paid');
    });
  });

  it('ends a payment plan unpaid when an installment is declined through the whole schedule: access revoked, nothing more charged', async () => {
    const taskQueue = uniqueTaskQueue('installment-unpaid');
    const worker = await newWorker(taskQueue);
    await worker.runUntil(async () => {
      const orderedAt = '2044-01-10T12:00:00.000Z';
      const { handle, orderId, customerId } = await startOrder(taskQueue, {
        courseIds: ['content-engine'],
        currency: 'USD',
        paymentMethodToken: 'pm_card_visa',
        paymentPlan: 'course-3-monthly',
        orderedAt,
        dunningPolicy: FIXED_POLICY,
      });
      const [first, second, third] = [0, 1, 2].map((i) => installmentInvoiceId(orderId, i)) as [string, string, string];
      await skipTo(orderedAt);
      await waitForPaidInstallments(handle, 1);
      await handle.signal(orderPaymentMethodUpdated, { token: 'pm_card_chargeDeclinedInsufficientFunds' });

      await skipToAndWaitForAttempts(handle, '2044-02-10T12:00:00.000Z', 1, 1);
      await skipToAndWaitForAttempts(handle, '2044-02-11T12:00:00.000Z', 1, 2); // + 1 day
      await skipToAndWaitForAttempts(handle, '2044-02-13T12:00:00.000Z', 1, 3); // + 3 days
      await skipToAndWaitForAttempts(handle, '2044-02-15T12:00:00.000Z', 1, 4); // + 5 days
      expect((await customerEntitlementsAt(pool, customerId, '2044-02-16T00:00:00.000Z')).entitlements).toEqual(['course:content-engine']);
      await skipTo('2044-02-17T12:00:00.000Z'); // + 7 days: the last try
      const final = await handle.result();
      expect(final.status).toBe('unpaid');
      expect(final.access.status).toBe('revoked');
      expect(final.access.endedAt?.slice(0, 19)).toBe('2044-02-17T12:00:00');
      expect(final).toMatchObject({ paidInstallments: 1, amountPaid: 33_233, amountStillOwed: 66_467, nextDue: null, entitlements: [] });
      expect(final.installments.map((i) => i.status)).toEqual(['paid', 'unpaid', 'scheduled']);
      // The final notice went out when the schedule's last retry (day 7) was planned, on day 5.
      expect((await listNotices(pool, { invoiceId: second })).map((n) => [n.kind, n.send_after.slice(0, 19)])).toEqual([
        ['payment_failed', '2044-02-10T12:00:00'],
        ['final_notice', '2044-02-15T12:00:00'],
      ]);
      expect(await attemptsOf(second)).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'declined', 'insufficient_funds']));
      expect((await customerEntitlementsAt(pool, customerId, '2044-02-18T00:00:00.000Z')).entitlements).toEqual([]);
      expect((await listOrderGrants(pool, orderId))[0]).toMatchObject({ revoke_reason: 'payment plan unpaid' });

      await skipTo('2044-04-01T00:00:00.000Z');
      expect((await chargesFor([first, second, third])).map((c) => c.amount)).toEqual([33_233]);
      expect(await invoicesOf([third])).toEqual([]);
      // The declined installment stays receivable.
      expect(await accountBalances(pool, [second])).toEqual([
        { account: 'accounts_receivable', balance: 33_234 },
        { account: 'revenue', balance: -33_234 },
      ]);
      expect((await findOrderRow(pool, orderId))?.status).toBe('unpaid');
    });
  });

  it('a lost card on an installment is never retried: the buyer is asked, and with no new card by day 14 the plan ends unpaid (default policy)', async () => {
    const taskQueue = uniqueTaskQueue('installment-hard');
    const worker = await newWorker(taskQueue);
    await worker.runUntil(async () => {
      const orderedAt = '2045-01-10T12:00:00.000Z';
      const { handle, orderId, customerId } = await startOrder(taskQueue, {
        courseIds: ['content-engine'],
        currency: 'USD',
        paymentMethodToken: 'pm_card_visa',
        paymentPlan: 'course-3-monthly',
        orderedAt,
      });
      const second = installmentInvoiceId(orderId, 1);
      await skipTo(orderedAt);
      await waitForPaidInstallments(handle, 1);
      await handle.signal(orderPaymentMethodUpdated, { token: 'pm_card_chargeDeclinedLostCard' });

      const asked = await skipToAndWaitForAttempts(handle, '2045-02-10T12:00:00.000Z', 1, 1);
      expect(asked.status).toBe('past_due');
      expect(asked.nextDue).toMatchObject({ index: 1, retryAt: null }); // nothing scheduled: the buyer must act
      expect((await listNotices(pool, { invoiceId: second })).map((n) => [n.kind, n.send_after.slice(0, 19)])).toEqual([
        ['action_required', '2045-02-10T12:00:00'],
        ['final_notice', '2045-02-21T12:00:00'], // 3 days before the 14-day window closes
      ]);
      // Access is kept while the buyer can still fix it.
      expect((await customerEntitlementsAt(pool, customerId, '2045-02-20T00:00:00.000Z')).entitlements).toEqual(['course:content-engine']);

      await skipTo('2045-02-24T12:00:01.000Z');
      const final = await handle.result();
      expect(final.status).toBe('unpaid');
      expect(final.access.status).toBe('revoked');
      expect(final.installments.map((i) => i.status)).toEqual(['paid', 'unpaid', 'scheduled']);
      expect(await attemptsOf(second)).toEqual([[1, 'declined', 'lost_card']]);
    });
  });
});
