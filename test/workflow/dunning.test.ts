// Dunning inside the subscription workflow, under time skipping, with the real activities
// (PostgreSQL, the Stripe simulator over stripe-mock, the retry model). Each decline class
// follows its own path; the dates of every attempt and notice are worked out by hand from the
// plan's policy (domain/dunning): window 14 days, final notice 3 days before it closes.
import type { WorkflowHandle } from '@temporalio/client';
import { sql } from 'slonik';
import { z } from 'zod';
import { issueCredit } from '../../db/credit-notes';
import { listSubscriptionInvoices } from '../../db/invoices';
import { accountBalances } from '../../db/ledger';
import { listNotices } from '../../db/notifications';
import { detachPaymentMethod } from '../../db/payment-methods';
import { DEFAULT_DUNNING_POLICY, dunningPolicyFor, type DunningPolicy } from '../../domain/dunning';
import { subscriptionInvoiceId } from '../../domain/subscription-invoice';
import { cancelSubscription, getSubscription, paymentMethodUpdated } from '../../workflows/messages';
import type { subscriptionWorkflow } from '../../workflows/subscription';
import { waitFor } from '../support/environment';
import { recordHistoryIfAsked } from '../support/record-history';
import { price, useSubscriptionHarness, type SubscriptionHarness } from '../support/subscription-harness';

let h: SubscriptionHarness;

useSubscriptionHarness((harness) => {
  h = harness;
});

const DAY_MS = 86_400_000;
const plusDays = (instant: string, days: number) => new Date(Date.parse(instant) + days * DAY_MS).toISOString();
/** To the second: a timer fires at its instant, but the workflow task that acts on it runs a few ms later. */
const sec = (instant: string | null | undefined) => instant?.slice(0, 19) ?? null;

/**
 * A subscription whose first period is paid with a good card, after which the card on file is
 * replaced by `failingToken` (the good one removed, so no saved backup pays instead). Its first
 * renewal, at `renewalAt`, is declined.
 */
async function renewalDeclinedWith(
  taskQueue: string,
  opts: { planId: 'community' | 'elite'; startAt: string; renewalAt: string; failingToken: string; dunningPolicy?: DunningPolicy },
) {
  const started = await h.start(taskQueue, {
    plan: price(opts.planId, 'month'),
    paymentMethodToken: 'pm_card_visa',
    startAt: opts.startAt,
    ...(opts.dunningPolicy ? { dunningPolicy: opts.dunningPolicy } : {}),
  });
  const first = subscriptionInvoiceId(started.subscriptionId, { epoch: 0, periodIndex: 0 });
  await h.advanceTo(started.handle, opts.startAt);
  await h.waitForAttempts(first, 1);
  await detachPaymentMethod(h.pool, started.customerId, 'pm_card_visa');
  await started.handle.signal(paymentMethodUpdated, { token: opts.failingToken });
  const renewal = subscriptionInvoiceId(started.subscriptionId, { epoch: 0, periodIndex: 1 });
  await h.skipTo(opts.renewalAt);
  await h.waitForAttempts(renewal, 1);
  await waitFor(async () => (await started.handle.query(getSubscription)).status === 'past_due', 'past_due');
  return { ...started, renewal };
}

/** [kind, send_after, canceled?] of an invoice's notices, in sending order. */
async function noticesOf(invoiceId: string): Promise<[string, string, boolean][]> {
  return (await listNotices(h.pool, { invoiceId })).map((n) => [n.kind, sec(n.send_after)!, n.canceled_at !== null]);
}

const attemptRow = z.object({ attempt: z.number(), outcome: z.string(), decline_code: z.string().nullable(), attempted_at: z.string().nullable(), retry_reason: z.string().nullable() });

/** Every attempt on an invoice with when it was made (to the second) and why (the reason a retry was scheduled). */
async function attemptsWithReasons(invoiceId: string) {
  const rows = await h.pool.any(sql.type(attemptRow)`
    SELECT attempt, outcome, decline_code, attempted_at, retry_reason FROM payment_attempts
    WHERE invoice_id = ${invoiceId} ORDER BY attempt`);
  return rows.map((r) => ({ ...r, attempted_at: sec(r.attempted_at) }));
}

async function accessEndsAt(subscriptionId: string): Promise<string | null> {
  return h.pool.oneFirst(sql.type(z.object({ access_ends_at: z.string().nullable() }))`
    SELECT access_ends_at FROM subscriptions WHERE id = ${subscriptionId}`);
}

const decisionRow = z.object({ retry_number: z.number(), decided_at: z.string(), chosen_at: z.string(), reason: z.string() });

async function retryDecisionsOf(invoiceId: string) {
  const rows = await h.pool.any(sql.type(decisionRow)`
    SELECT retry_number, decided_at, chosen_at, reason FROM retry_decisions WHERE invoice_id = ${invoiceId} ORDER BY decided_at`);
  return rows.map((r) => ({ ...r, decided_at: sec(r.decided_at)! }));
}

/** The dunning part of the view, instants to the second. */
async function dunningOf(handle: WorkflowHandle<typeof subscriptionWorkflow>) {
  const d = (await handle.query(getSubscription)).dunning;
  return d && { ...d, firstFailureAt: sec(d.firstFailureAt), accessUntil: sec(d.accessUntil), windowEndsAt: sec(d.windowEndsAt) };
}

describe('dunning (time-skipping)', () => {
  it('hard decline (lost card) on Community: never retried; action required now, final notice on day 11, access until day 3, canceled on day 14 with the renewal written off', async () => {
    await h.withWorker('dunning-hard', async (taskQueue) => {
      const T = '2050-02-10T12:00:00.000Z';
      const { handle, subscriptionId, renewal } = await renewalDeclinedWith(taskQueue, {
        planId: 'community',
        startAt: '2050-01-10T12:00:00.000Z',
        renewalAt: T,
        failingToken: 'pm_card_chargeDeclinedLostCard',
      });
      const policy = dunningPolicyFor('community');
      expect([policy.graceDays, policy.endAction, policy.strategy]).toEqual([3, 'cancel', 'smart']);

      expect(await dunningOf(handle)).toMatchObject({
        phase: 'awaiting_customer',
        firstFailureAt: sec(T),
        lastDeclineCode: 'lost_card',
        lastDeclineClass: 'hard',
        nextAttempt: null,
        accessUntil: '2050-02-13T12:00:00', // grace: 3 days
        windowEndsAt: '2050-02-24T12:00:00', // window: 14 days
        endAction: 'cancel',
      });
      expect((await handle.query(getSubscription)).access).toEqual({
        granted: true,
        reason: expect.stringMatching(/^payment overdue; access kept until 2050-02-13T12:00:00\.\d{3}Z$/),
      });
      // The read model the entitlement checks use carries the same end of access.
      expect(sec(await accessEndsAt(subscriptionId))).toBe('2050-02-13T12:00:00');
      expect(await noticesOf(renewal)).toEqual([
        ['action_required', sec(T), false],
        ['final_notice', '2050-02-21T12:00:00', false], // 3 days before the window closes
      ]);
      // The smart strategy never asked the model: a lost card is not retried at any time.
      expect(await retryDecisionsOf(renewal)).toEqual([]);

      await h.skipTo('2050-02-13T13:00:00.000Z'); // an hour after the grace period
      expect((await handle.query(getSubscription)).access).toEqual({
        granted: false,
        reason: expect.stringMatching(/^grace period ended 2050-02-13T12:00:00\.\d{3}Z; payment overdue$/),
      });
      expect(await h.attemptsOf(renewal)).toEqual([[1, 'declined', 'lost_card']]);

      await h.skipTo('2050-02-24T12:00:00.000Z');
      const final = await handle.result();
      recordHistoryIfAsked('v2-dunning-lost-card-canceled-on-day-14', handle, h.address);
      expect(final.status).toBe('canceled');
      expect(sec(final.canceledAt)).toBe('2050-02-24T12:00:00');
      expect(final.statusHistory.map((c) => c.to)).toEqual(['incomplete', 'active', 'past_due', 'canceled']);
      expect(final.statusHistory.at(-1)?.cause).toMatch(/^no payment by 2050-02-24T12:00:00\.\d{3}Z; cancel$/);
      // One attempt in all: the first, declined.
      expect(await h.attemptsOf(renewal)).toEqual([[1, 'declined', 'lost_card']]);
      expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700]);
      expect((await listSubscriptionInvoices(h.pool, subscriptionId)).map((i) => [i.id, i.status])).toEqual([
        [subscriptionInvoiceId(subscriptionId, { epoch: 0, periodIndex: 0 }), 'paid'],
        [renewal, 'uncollectible'],
      ]);
      expect(await accountBalances(h.pool, [renewal])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'bad_debt', balance: 9_700 },
        { account: 'revenue', balance: -9_700 },
      ]);
    });
  });

  it('expired card on Elite: asked to update the card, access kept 10 days, paused (not canceled) on day 14, and no attempt after', async () => {
    await h.withWorker('dunning-expired', async (taskQueue) => {
      const T = '2051-03-05T09:00:00.000Z';
      const { handle, subscriptionId, renewal } = await renewalDeclinedWith(taskQueue, {
        planId: 'elite',
        startAt: '2051-02-05T09:00:00.000Z',
        renewalAt: T,
        failingToken: 'pm_card_chargeDeclinedExpiredCard',
      });
      expect(await dunningOf(handle)).toMatchObject({
        phase: 'awaiting_customer',
        lastDeclineCode: 'expired_card',
        lastDeclineClass: 'expired',
        nextAttempt: null,
        accessUntil: '2051-03-15T09:00:00', // Elite's grace: 10 days
        windowEndsAt: '2051-03-19T09:00:00',
        endAction: 'pause',
      });
      expect(await noticesOf(renewal)).toEqual([
        ['action_required', sec(T), false],
        ['final_notice', '2051-03-16T09:00:00', false],
      ]);

      await h.skipTo('2051-03-19T09:00:00.000Z');
      await waitFor(async () => (await handle.query(getSubscription)).status === 'paused', 'the end action');
      const paused = await handle.query(getSubscription);
      expect(paused.pause).toMatchObject({ anchor: 'keep', resumesAt: null });
      expect(sec(paused.pause?.pausedAt)).toBe('2051-03-19T09:00:00');
      expect(paused.nextCharge).toBeNull();
      expect(paused.dunning).toBeNull();
      expect(paused.statusHistory.at(-1)).toMatchObject({ from: 'past_due', to: 'paused', cause: expect.stringMatching(/^no payment by 2051-03-19T09:00:00\.\d{3}Z; pause$/) });
      expect(await accountBalances(h.pool, [renewal])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'bad_debt', balance: 500_000 },
        { account: 'revenue', balance: -500_000 },
      ]);
      // A paused subscription is not billed: two months on, still the one declined attempt.
      await h.skipTo('2051-05-20T00:00:00.000Z');
      expect(await h.attemptsOf(renewal)).toEqual([[1, 'declined', 'expired_card']]);
      expect((await listSubscriptionInvoices(h.pool, subscriptionId)).map((i) => i.status)).toEqual(['paid', 'uncollectible']);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it('authentication required: the customer is asked; a new payment method on day 2 is charged at once, the pending final notice is withdrawn and the next renewal keeps its date', async () => {
    await h.withWorker('dunning-auth', async (taskQueue) => {
      const T = '2052-04-01T15:00:00.000Z';
      const { handle, renewal } = await renewalDeclinedWith(taskQueue, {
        planId: 'community',
        startAt: '2052-03-01T15:00:00.000Z',
        renewalAt: T,
        failingToken: 'pm_card_authenticationRequired',
      });
      expect((await handle.query(getSubscription)).dunning).toMatchObject({ lastDeclineClass: 'action_required', nextAttempt: null });

      await h.skipTo('2052-04-03T10:00:00.000Z');
      await handle.signal(paymentMethodUpdated, { token: 'pm_card_mastercard' });
      await waitFor(async () => (await handle.query(getSubscription)).status === 'active', 'recovery');
      const attempts = await attemptsWithReasons(renewal);
      expect(attempts.map((a) => [a.attempt, a.outcome, a.attempted_at])).toEqual([
        [1, 'requires_action', sec(T)],
        [2, 'succeeded', '2052-04-03T10:00:00'], // at once
      ]);
      expect(attempts[1]?.retry_reason).toBe('the customer added a new payment method: charge it now');
      await waitFor(async () => (await noticesOf(renewal)).length === 3, 'the recovered notice');
      // Recovery withdraws every reminder not yet sent. No sender runs in this test, so that is
      // the action-required notice too (a sender would have sent it on day 0); the final notice
      // of day 11 would always be withdrawn.
      expect(await noticesOf(renewal)).toEqual([
        ['action_required', sec(T), true],
        ['recovered', '2052-04-03T10:00:00', false],
        ['final_notice', '2052-04-12T15:00:00', true],
      ]);
      const view = await handle.query(getSubscription);
      expect(view.statusHistory.map((c) => c.to)).toEqual(['incomplete', 'active', 'past_due', 'active']);
      expect(view.currentPeriod).toEqual({ index: 1, start: T, end: '2052-05-01T15:00:00.000Z' }); // the anchor's dates, not the payment's
      expect(view.nextCharge?.at).toBe('2052-05-01T15:00:00.000Z');
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it('retry budget exhausted: 3 automatic retries allowed of a 6-day schedule; after the third fails the end action applies and nothing more is attempted', async () => {
    await h.withWorker('dunning-budget', async (taskQueue) => {
      const policy: DunningPolicy = {
        ...DEFAULT_DUNNING_POLICY,
        strategy: 'fixed',
        fixedScheduleDays: [1, 2, 3, 4, 5, 6],
        budget: { maxAttempts: 3, windowDays: 14 },
        endAction: 'mark_unpaid',
      };
      const T = '2053-06-10T08:00:00.000Z';
      const { handle, subscriptionId, renewal } = await renewalDeclinedWith(taskQueue, {
        planId: 'community',
        startAt: '2053-05-10T08:00:00.000Z',
        renewalAt: T,
        failingToken: 'pm_card_chargeDeclinedInsufficientFunds',
        dunningPolicy: policy,
      });
      for (const [day, attempts] of [[1, 2], [2, 3]] as const) {
        await h.skipTo(plusDays(T, day));
        await h.waitForAttempts(renewal, attempts);
      }
      await h.skipTo(plusDays(T, 3));
      const final = await handle.result();
      expect(final.status).toBe('unpaid');
      expect(final.statusHistory.at(-1)?.cause).toBe('retry budget exhausted: 3 of 3 automatic retries used; mark unpaid');
      const attempts = await attemptsWithReasons(renewal);
      expect(attempts.map((a) => [a.attempt, a.outcome, a.attempted_at, a.retry_reason])).toEqual([
        [1, 'declined', sec(T), null],
        [2, 'declined', '2053-06-11T08:00:00', 'fixed schedule: retry 1 on day 1 after the first failure'],
        [3, 'declined', '2053-06-12T08:00:00', 'fixed schedule: retry 2 on day 2 after the first failure'],
        [4, 'declined', '2053-06-13T08:00:00', 'fixed schedule: retry 3 on day 3 after the first failure'],
      ]);
      // The final notice went out when the last retry the budget allows was scheduled (day 2).
      expect(await noticesOf(renewal)).toEqual([
        ['payment_failed', sec(T), false],
        ['final_notice', '2053-06-12T08:00:00', false],
      ]);
      expect((await listSubscriptionInvoices(h.pool, subscriptionId)).map((i) => i.status)).toEqual(['paid', 'uncollectible']);
      // Days 4, 5 and 6 of the schedule never come: the workflow has ended.
      await h.skipTo(plusDays(T, 7));
      expect((await attemptsWithReasons(renewal)).length).toBe(4);
    });
  });

  it('smart retry: the workflow retries at the time the retry model chose and stored, and the attempt carries the decision reason', async () => {
    await h.withWorker('dunning-smart', async (taskQueue) => {
      const T = '2054-01-20T18:00:00.000Z';
      const { handle, renewal } = await renewalDeclinedWith(taskQueue, {
        planId: 'community',
        startAt: '2053-12-20T18:00:00.000Z',
        renewalAt: T,
        failingToken: 'pm_card_chargeDeclinedInsufficientFunds',
      });
      const [first] = await retryDecisionsOf(renewal);
      expect(first).toMatchObject({ retry_number: 1, decided_at: sec(T) });
      const chosen = first!.chosen_at;
      // Inside the window: at least 12 hours after the failure, at most 14 days.
      expect(Date.parse(chosen)).toBeGreaterThanOrEqual(Date.parse(T) + 12 * 3_600_000);
      expect(Date.parse(chosen)).toBeLessThanOrEqual(Date.parse(plusDays(T, 14)));
      expect((await handle.query(getSubscription)).dunning?.nextAttempt).toMatchObject({ at: chosen, reason: first!.reason });

      // A minute before the chosen time nothing has happened; at it, the retry is made.
      await h.skipTo(new Date(Date.parse(chosen) - 60_000).toISOString());
      expect((await attemptsWithReasons(renewal)).length).toBe(1);
      await h.skipTo(chosen);
      await h.waitForAttempts(renewal, 2);
      const [, retry] = await attemptsWithReasons(renewal);
      expect(retry).toEqual({ attempt: 2, outcome: 'declined', decline_code: 'insufficient_funds', attempted_at: sec(chosen), retry_reason: first!.reason });
      // The second failure asks the model again; that decision is stored for retry 2.
      await waitFor(async () => (await retryDecisionsOf(renewal)).length === 2, 'the second decision');
      expect((await retryDecisionsOf(renewal))[1]).toMatchObject({ retry_number: 2, decided_at: sec(chosen) });
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
      recordHistoryIfAsked('v2-dunning-smart-retry-then-canceled', handle, h.address);
    });
  });

  it('canceled during dunning: the final notice still waiting is withdrawn, the renewal is written off and nothing more is attempted', async () => {
    await h.withWorker('dunning-cancel', async (taskQueue) => {
      const T = '2054-07-10T12:00:00.000Z';
      const { handle, subscriptionId, renewal } = await renewalDeclinedWith(taskQueue, {
        planId: 'community',
        startAt: '2054-06-10T12:00:00.000Z',
        renewalAt: T,
        failingToken: 'pm_card_chargeDeclinedLostCard',
      });
      expect((await noticesOf(renewal)).map(([kind, at]) => [kind, at])).toEqual([
        ['action_required', sec(T)],
        ['final_notice', '2054-07-21T12:00:00'],
      ]);
      await h.skipTo('2054-07-12T09:00:00.000Z');
      const canceled = await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      expect(canceled.status).toBe('canceled');
      const final = await handle.result();
      recordHistoryIfAsked('v2-dunning-canceled-by-the-customer-on-day-2', handle, h.address);
      expect(final.dunning).toBeNull();
      // Day 11's "last chance" must not reach a customer who has left (nor the unsent day-0 one, here without a sender).
      expect(await noticesOf(renewal)).toEqual([
        ['action_required', sec(T), true],
        ['final_notice', '2054-07-21T12:00:00', true],
      ]);
      expect(await h.attemptsOf(renewal)).toEqual([[1, 'declined', 'lost_card']]);
      expect((await listSubscriptionInvoices(h.pool, subscriptionId)).map((i) => i.status)).toEqual(['paid', 'uncollectible']);
      expect(await accountBalances(h.pool, [renewal])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'bad_debt', balance: 9_700 },
        { account: 'revenue', balance: -9_700 },
      ]);
    });
  });

  describe('a credit note issued while dunning waits', () => {
    const FIXED_COMMUNITY: DunningPolicy = { ...dunningPolicyFor('community'), strategy: 'fixed' };

    async function credit(invoiceId: string, amount: number, at: string) {
      const issued = await h.pool.transaction((tx) => issueCredit(tx, { id: `cn_${invoiceId}_${amount}`, invoiceId, amount, reason: 'goodwill', at }));
      if (!issued.ok) throw new Error(issued.message);
    }

    it('a partial credit: the retry charges only what is still owed (9700 - 2000 = 7700) and the books balance', async () => {
      await h.withWorker('dunning-credit-part', async (taskQueue) => {
        const T = '2055-02-10T12:00:00.000Z';
        const { handle, subscriptionId, renewal } = await renewalDeclinedWith(taskQueue, {
          planId: 'community',
          startAt: '2055-01-10T12:00:00.000Z',
          renewalAt: T,
          failingToken: 'pm_card_chargeDeclinedInsufficientFunds',
          dunningPolicy: FIXED_COMMUNITY,
        });
        await h.skipTo('2055-02-10T20:00:00.000Z');
        await credit(renewal, 2_000, '2055-02-10T20:00:00.000Z');
        await handle.signal(paymentMethodUpdated, { token: 'pm_card_mastercard' });
        await waitFor(async () => (await handle.query(getSubscription)).status === 'active', 'recovery');
        expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700, 7_700]);
        expect((await handle.query(getSubscription)).lastPayment).toMatchObject({ invoiceId: renewal, amount: 7_700, outcome: 'succeeded' });
        const invoice = (await listSubscriptionInvoices(h.pool, subscriptionId)).find((i) => i.id === renewal);
        expect(invoice).toMatchObject({ total: 9_700, amount_paid: 7_700, status: 'paid' });
        // Receivable 9700, less 2000 credited (revenue reversed), less 7700 received: nothing owed.
        expect(await accountBalances(h.pool, [renewal])).toEqual([
          { account: 'accounts_receivable', balance: 0 },
          { account: 'cash:stripe', balance: 7_700 },
          { account: 'revenue', balance: -7_700 },
        ]);
        await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
        await handle.result();
      });
    });

    it('a credit of the whole invoice: the next scheduled retry charges nothing, dunning ends, the final notice is withdrawn and the subscription is active again', async () => {
      await h.withWorker('dunning-credit-all', async (taskQueue) => {
        const T = '2056-02-10T12:00:00.000Z';
        const { handle, subscriptionId, renewal } = await renewalDeclinedWith(taskQueue, {
          planId: 'community',
          startAt: '2056-01-10T12:00:00.000Z',
          renewalAt: T,
          failingToken: 'pm_card_chargeDeclinedInsufficientFunds',
          dunningPolicy: { ...FIXED_COMMUNITY, fixedScheduleDays: [1] }, // one retry: its scheduling queues the final notice
        });
        await h.skipTo('2056-02-10T20:00:00.000Z');
        await credit(renewal, 9_700, '2056-02-10T20:00:00.000Z');
        await h.skipTo(plusDays(T, 1)); // the retry day
        await waitFor(async () => (await handle.query(getSubscription)).status === 'active', 'settled by the credit');
        const view = await handle.query(getSubscription);
        expect(view.dunning).toBeNull();
        expect(view.statusHistory.map((c) => c.to)).toEqual(['incomplete', 'active', 'past_due', 'active']);
        expect(view.nextCharge?.at).toBe('2056-03-10T12:00:00.000Z');
        // Only the first month was ever charged; the renewal's single attempt was the declined one.
        expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700]);
        expect(await h.attemptsOf(renewal)).toEqual([[1, 'declined', 'insufficient_funds']]);
        expect(await noticesOf(renewal)).toEqual([
          ['final_notice', sec(T), true], // same instant: ordered by key
          ['payment_failed', sec(T), true],
        ]);
        expect(await accountBalances(h.pool, [renewal])).toEqual([
          { account: 'accounts_receivable', balance: 0 },
          { account: 'revenue', balance: 0 },
        ]);
        await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
        await handle.result();
      });
    });
  });
});
