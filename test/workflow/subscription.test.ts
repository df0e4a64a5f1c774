// The subscription workflow under Temporal's time-skipping test server, with the real
// activities: PostgreSQL for the books and the Stripe simulator (validated by stripe-mock) as
// the gateway. Months pass in seconds; every date and cent below is worked out by hand.
import { issueCredit } from '../../db/credit-notes';
import { availableCustomerCredit } from '../../db/customer-credit';
import { listSubscriptionInvoices } from '../../db/invoices';
import { detachPaymentMethod } from '../../db/payment-methods';
import { renewalInvoiceId } from '../../domain/invoice';
import { accountBalances, ledgerTotals } from '../../db/ledger';
import type { DatabasePool } from '../../db/pool';
import type { BillingInterval } from '../../domain/calendar';
import { DEFAULT_DUNNING_POLICY, type DunningPolicy } from '../../domain/dunning';
import { cancelSubscription, getSubscription, paymentMethodUpdated } from '../../workflows/messages';
import { waitFor } from '../support/environment';
import { recordHistoryIfAsked } from '../support/record-history';
import { price, useSubscriptionHarness, type SubscriptionHarness } from '../support/subscription-harness';

// One test server for the file: its clock only moves forward, so each test starts its
// subscription in a later year than the test before it.
let h: SubscriptionHarness;
let pool: DatabasePool;

useSubscriptionHarness((harness) => {
  h = harness;
  pool = harness.pool;
});

/** Retries on days 1, 3, 5 and 7 after the first failure, at its time of day: dates a test can state. */
const FIXED_POLICY: DunningPolicy = { ...DEFAULT_DUNNING_POLICY, strategy: 'fixed' };

function startSubscription(
  taskQueue: string,
  interval: BillingInterval,
  startAt: string,
  paymentMethodToken = 'pm_card_visa',
  periodsPerRun?: number,
  dunningPolicy?: DunningPolicy,
) {
  return h.start(taskQueue, {
    plan: price('community', interval),
    paymentMethodToken,
    startAt,
    ...(periodsPerRun ? { periodsPerRun } : {}),
    ...(dunningPolicy ? { dunningPolicy } : {}),
  });
}

describe('subscription workflow (time-skipping)', () => {
  it('bills a monthly Community subscription started Jan 31 on the clamped month ends: 13 invoices of 9700 cents in a year', async () => {
    await h.withWorker('monthly', async (taskQueue) => {
      const { handle, subscriptionId } = await startSubscription(taskQueue, 'month', '2031-01-31T15:00:00.000Z');
      const firstRunId = (await handle.describe()).runId;
      await h.advanceTo(handle, '2032-02-01T00:00:00.000Z');
      const view = await handle.query(getSubscription);
      expect(view.status).toBe('active');
      expect(view.currentPeriod).toEqual({ index: 12, start: '2032-01-31T15:00:00.000Z', end: '2032-02-29T15:00:00.000Z' });
      expect(view.nextCharge).toEqual({ at: '2032-02-29T15:00:00.000Z', amount: 9700, currency: 'USD' });
      // 12 periods per run: the 13th was billed by a run that continued as new.
      expect((await h.client.workflow.getHandle(handle.workflowId).describe()).runId).not.toBe(firstRunId);

      const invoices = await listSubscriptionInvoices(pool, subscriptionId);
      expect(invoices.map((i) => i.period_start)).toEqual([
        '2031-01-31T15:00:00.000Z',
        '2031-02-28T15:00:00.000Z', // clamped: February 2031 has 28 days
        '2031-03-31T15:00:00.000Z', // back to the 31st: computed from the anchor, not from Feb 28
        '2031-04-30T15:00:00.000Z',
        '2031-05-31T15:00:00.000Z',
        '2031-06-30T15:00:00.000Z',
        '2031-07-31T15:00:00.000Z',
        '2031-08-31T15:00:00.000Z',
        '2031-09-30T15:00:00.000Z',
        '2031-10-31T15:00:00.000Z',
        '2031-11-30T15:00:00.000Z',
        '2031-12-31T15:00:00.000Z',
        '2032-01-31T15:00:00.000Z',
      ]);
      expect(invoices.map((i) => i.total)).toEqual(Array(13).fill(9700));
      expect(invoices.map((i) => i.status)).toEqual(Array(13).fill('paid'));
      expect(invoices[1]!.period_end).toBe('2031-03-31T15:00:00.000Z');

      const charges = await h.chargesFor(subscriptionId);
      expect(charges.map((c) => c.amount)).toEqual(Array(13).fill(9700));

      const ids = invoices.map((i) => i.id);
      expect(await ledgerTotals(pool, ids)).toEqual([{ currency: 'USD', debits: 252_200, credits: 252_200 }]);
      // 13 x 9700 = 126100 earned and collected; nothing left receivable.
      expect(await accountBalances(pool, ids)).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:stripe', balance: 126_100 },
        { account: 'revenue', balance: -126_100 },
      ]);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      // Let it finish while the worker runs: a pending activity would stop the test server's clock.
      expect((await handle.result()).status).toBe('canceled');
      expect(await listSubscriptionInvoices(pool, subscriptionId)).toHaveLength(invoices.length);
    });
  });

  it('bills an annual Community subscription twice in a year and a day: 97000 cents each', async () => {
    await h.withWorker('annual', async (taskQueue) => {
      const { handle, subscriptionId } = await startSubscription(taskQueue, 'year', '2033-01-31T15:00:00.000Z');
      await h.advanceTo(handle, '2034-02-01T00:00:00.000Z');
      const invoices = await listSubscriptionInvoices(pool, subscriptionId);
      expect(invoices.map((i) => [i.period_start, i.period_end, i.total])).toEqual([
        ['2033-01-31T15:00:00.000Z', '2034-01-31T15:00:00.000Z', 97_000],
        ['2034-01-31T15:00:00.000Z', '2035-01-31T15:00:00.000Z', 97_000],
      ]);
      expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([97_000, 97_000]);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      // Let it finish while the worker runs: a pending activity would stop the test server's clock.
      expect((await handle.result()).status).toBe('canceled');
      expect(await listSubscriptionInvoices(pool, subscriptionId)).toHaveLength(invoices.length);
    });
  });

  it('cancel at period end finishes the paid period and never renews', async () => {
    await h.withWorker('cancel-period-end', async (taskQueue) => {
      const { handle, subscriptionId } = await startSubscription(taskQueue, 'month', '2035-03-15T15:00:00.000Z');
      await h.advanceTo(handle, '2035-03-16T00:00:00.000Z');
      const afterCancel = await handle.executeUpdate(cancelSubscription, { args: [{ when: 'period_end' }] });
      expect(afterCancel.status).toBe('active');
      expect(afterCancel.cancelAtPeriodEnd).toBe(true);
      expect(afterCancel.nextCharge).toBeNull();
      // Asking again is refused by the update's validator and changes nothing.
      await expect(handle.executeUpdate(cancelSubscription, { args: [{ when: 'period_end' }] })).rejects.toMatchObject({
        cause: { message: 'subscription is already set to cancel at period end' },
      });
      expect((await handle.query(getSubscription)).cancelAtPeriodEnd).toBe(true);

      await h.skipTo('2035-04-15T15:00:00.000Z');
      const final = await handle.result();
      expect(final.status).toBe('canceled');
      expect(final.canceledAt).toBe('2035-04-15T15:00:00.000Z');
      expect(final.currentPeriod).toEqual({ index: 0, start: '2035-03-15T15:00:00.000Z', end: '2035-04-15T15:00:00.000Z' });
      await h.skipTo('2035-07-01T00:00:00.000Z');
      expect((await listSubscriptionInvoices(pool, subscriptionId)).map((i) => i.period_start)).toEqual(['2035-03-15T15:00:00.000Z']);
      expect((await h.chargesFor(subscriptionId)).length).toBe(1);
    });
  });

  it('an immediate cancel charges nothing more', async () => {
    await h.withWorker('cancel-now', async (taskQueue) => {
      const { handle, subscriptionId } = await startSubscription(taskQueue, 'month', '2036-03-15T15:00:00.000Z');
      await h.advanceTo(handle, '2036-05-20T00:00:00.000Z'); // Mar 15, Apr 15 and May 15 billed
      const canceled = await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now', reason: 'customer request' }] });
      expect(canceled.status).toBe('canceled');
      expect(canceled.nextCharge).toBeNull();
      const final = await handle.result();
      expect(final.status).toBe('canceled');
      expect(final.statusHistory.map((c) => [c.from, c.to, c.cause])).toEqual([
        [null, 'incomplete', 'subscription created'],
        ['incomplete', 'active', 'first payment succeeded'],
        ['active', 'canceled', 'Canceled now; access ends immediately. Reason: customer request'],
      ]);
      await h.skipTo('2036-09-01T00:00:00.000Z');
      expect((await listSubscriptionInvoices(pool, subscriptionId)).length).toBe(3);
      expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9700, 9700, 9700]);
      recordHistoryIfAsked('v2-cancel-now-after-three-renewals', handle, h.address);
    });
  });

  async function skipToAndWaitForAttempts(instant: string, invoiceId: string, count: number) {
    await h.skipTo(instant);
    await h.waitForAttempts(invoiceId, count);
  }

  it('a declined first payment is retried on days 1, 3, 5 and 7 (fixed schedule), then the never-started subscription is canceled and written off', async () => {
    await h.withWorker('first-decline', async (taskQueue) => {
      const { handle, subscriptionId } = await startSubscription(taskQueue, 'month', '2037-01-10T12:00:00.000Z', 'pm_card_chargeDeclinedInsufficientFunds', undefined, FIXED_POLICY);
      const invoiceId = renewalInvoiceId(subscriptionId, 0);
      await skipToAndWaitForAttempts('2037-01-10T12:00:00.000Z', invoiceId, 1);
      expect((await handle.query(getSubscription)).status).toBe('incomplete');
      await skipToAndWaitForAttempts('2037-01-11T12:00:00.000Z', invoiceId, 2); // first failure + 1 day
      await skipToAndWaitForAttempts('2037-01-13T12:00:00.000Z', invoiceId, 3); // + 3 days
      await skipToAndWaitForAttempts('2037-01-15T12:00:00.000Z', invoiceId, 4); // + 5 days
      await h.skipTo('2037-01-17T12:00:00.000Z'); // + 7 days: the last try
      const final = await handle.result();
      expect(final.status).toBe('canceled');
      expect(final.statusHistory.at(-1)?.cause).toBe(
        'first payment never completed: fixed schedule exhausted after 4 retries; mark unpaid',
      );
      expect(final.lastPayment).toMatchObject({ outcome: 'declined', declineCode: 'insufficient_funds' });
      expect(final.lastPayment?.at.slice(0, 19)).toBe('2037-01-17T12:00:00'); // to the second: the task runs ms later
      expect(await h.attemptsOf(invoiceId)).toEqual([1, 2, 3, 4, 5].map((n) => [n, 'declined', 'insufficient_funds']));
      expect(await h.chargesFor(subscriptionId)).toEqual([]);
      // Nothing was collected: the 9700 receivable is written off to bad debt.
      expect(await accountBalances(pool, [invoiceId])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'bad_debt', balance: 9700 },
        { account: 'revenue', balance: -9700 },
      ]);
      expect((await listSubscriptionInvoices(pool, subscriptionId)).map((i) => i.status)).toEqual(['uncollectible']);
    });
  });

  it('a declined renewal goes past_due; a new payment method retries at once and the next renewal keeps its date', async () => {
    await h.withWorker('renewal-decline', async (taskQueue) => {
      const { handle, subscriptionId, customerId } = await startSubscription(taskQueue, 'month', '2038-01-10T12:00:00.000Z', 'pm_card_visa', undefined, FIXED_POLICY);
      await h.advanceTo(handle, '2038-01-11T00:00:00.000Z');
      // The card on file is replaced by one that will be declined, and the old one removed (a
      // saved backup would otherwise be tried, and pay).
      await detachPaymentMethod(pool, customerId, 'pm_card_visa');
      await handle.signal(paymentMethodUpdated, { token: 'pm_card_chargeDeclinedInsufficientFunds' });
      const renewal = renewalInvoiceId(subscriptionId, 1);
      await skipToAndWaitForAttempts('2038-02-10T12:00:00.000Z', renewal, 1);
      // The attempt row is written before the workflow hears the outcome: wait for its view.
      await waitFor(async () => (await handle.query(getSubscription)).status === 'past_due', 'past_due');
      await skipToAndWaitForAttempts('2038-02-11T12:00:00.000Z', renewal, 2);
      await h.skipTo('2038-02-12T08:00:00.000Z');
      await handle.signal(paymentMethodUpdated, { token: 'pm_card_mastercard' });
      await waitFor(async () => (await handle.query(getSubscription)).status === 'active', 'recovery');
      expect(await h.attemptsOf(renewal)).toEqual([
        [1, 'declined', 'insufficient_funds'],
        [2, 'declined', 'insufficient_funds'],
        [3, 'succeeded', null],
      ]);
      const view = await handle.query(getSubscription);
      expect(view.lastPayment).toMatchObject({ outcome: 'succeeded' });
      expect(view.lastPayment?.at.slice(0, 19)).toBe('2038-02-12T08:00:00'); // at once, not at the next scheduled retry
      expect(view.currentPeriod).toEqual({ index: 1, start: '2038-02-10T12:00:00.000Z', end: '2038-03-10T12:00:00.000Z' });
      expect(view.nextCharge?.at).toBe('2038-03-10T12:00:00.000Z');
      expect(view.statusHistory.map((c) => c.to)).toEqual(['incomplete', 'active', 'past_due', 'active']);
      expect(view.dunning).toBeNull();
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it('continue-as-new carries state: a payment method given in one run is charged by the next', async () => {
    await h.withWorker('carry', async (taskQueue) => {
      // One period per run: every renewal happens in a fresh run.
      const { handle, subscriptionId } = await startSubscription(taskQueue, 'month', '2039-01-15T12:00:00.000Z', 'pm_card_visa', 1);
      await h.advanceTo(handle, '2039-01-16T00:00:00.000Z');
      const runAfterFirst = (await handle.describe()).runId;
      await h.client.workflow.getHandle(handle.workflowId).signal(paymentMethodUpdated, { token: 'pm_card_mastercard' });
      await h.advanceTo(handle, '2039-03-16T00:00:00.000Z');
      expect((await handle.describe()).runId).not.toBe(runAfterFirst);
      const charges = await h.chargesFor(subscriptionId);
      expect(charges.map((c) => [c.paymentMethod, c.amount])).toEqual([
        ['pm_card_visa', 9700],
        ['pm_card_mastercard', 9700],
        ['pm_card_mastercard', 9700],
      ]);
      const view = await handle.query(getSubscription);
      expect(view.currentPeriod?.index).toBe(2);
      expect(view.statusHistory.map((c) => c.cause)).toEqual(['subscription created', 'first payment succeeded']);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it("a credit balance (a credit note on a paid invoice) pays part of the next renewal: 9700 - 2400 = 7300 charged, then full price again", async () => {
    await h.withWorker('credit-balance', async (taskQueue) => {
      const { handle, subscriptionId, customerId } = await startSubscription(taskQueue, 'month', '2040-01-15T12:00:00.000Z');
      const first = renewalInvoiceId(subscriptionId, 0);
      await h.advanceTo(handle, '2040-01-20T00:00:00.000Z');
      const issued = await pool.transaction((tx) => issueCredit(tx, { id: `cn_${first}`, invoiceId: first, amount: 2_400, reason: 'goodwill', at: '2040-01-20T00:00:00.000Z' }));
      expect(issued.ok && issued.note.settlement).toEqual({ reducedAmountDue: 0, refunded: 0, creditedToBalance: 2_400 }); // the invoice was paid: all of it is the customer's balance
      expect(await availableCustomerCredit(pool, customerId, 'USD')).toBe(2_400);

      await h.advanceTo(handle, '2040-03-16T00:00:00.000Z');
      const renewal = renewalInvoiceId(subscriptionId, 1);
      expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700, 7_300, 9_700]);
      expect(await availableCustomerCredit(pool, customerId, 'USD')).toBe(0);
      expect((await listSubscriptionInvoices(pool, subscriptionId)).map((i) => [i.total, i.amount_paid, i.status])).toEqual([
        [9_700, 9_700, 'paid'],
        [9_700, 7_300, 'paid'],
        [9_700, 9_700, 'paid'],
      ]);
      // The renewal's receivable: 9700 issued, 2400 from the balance, 7300 in cash.
      expect(await accountBalances(pool, [renewal])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:stripe', balance: 7_300 },
        { account: 'customer_credit', balance: 2_400 },
        { account: 'revenue', balance: -9_700 },
      ]);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });
});
