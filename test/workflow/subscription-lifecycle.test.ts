// The subscription lifecycle through the workflow's updates, under time skipping, with the real
// activities. Every cent and date is worked out by hand in the comments.
import { WorkflowUpdateStage } from '@temporalio/client';
import { listSubscriptionInvoices } from '../../db/invoices';
import { accountBalances } from '../../db/ledger';
import type { Coupon } from '../../domain/discounts';
import { subscriptionInvoiceId } from '../../domain/subscription-invoice';
import { taxTreatmentFor } from '../../domain/tax';
import { applySubscriptionCoupon, cancelSubscription, changeSubscription, getSubscription } from '../../workflows/messages';
import { waitFor } from '../support/environment';
import { recordHistoryIfAsked } from '../support/record-history';
import { price, useSubscriptionHarness, type SubscriptionHarness } from '../support/subscription-harness';

let h: SubscriptionHarness;

useSubscriptionHarness((harness) => {
  h = harness;
});

/** Names of the updates the server accepted into the workflow's history. */
async function acceptedUpdates(handle: { fetchHistory(): Promise<{ events?: unknown[] | null }> }): Promise<string[]> {
  const history = await handle.fetchHistory();
  return (history.events ?? []).flatMap((e) => {
    const accepted = (e as { workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest?: { input?: { name?: string } } } })
      .workflowExecutionUpdateAcceptedEventAttributes;
    return accepted ? [accepted.acceptedRequest?.input?.name ?? '?'] : [];
  });
}

describe('subscription lifecycle (time-skipping)', () => {
  it('upgrade Community -> Elite on day 10 of a 31-day month is prorated and charged at once; the next renewal is the full Elite price', async () => {
    await h.withWorker('upgrade', async (taskQueue) => {
      const { handle, subscriptionId } = await h.start(taskQueue, {
        plan: price('community', 'month'),
        paymentMethodToken: 'pm_card_visa',
        startAt: '2040-03-01T00:00:00.000Z',
      });
      await h.advanceTo(handle, '2040-03-10T12:00:00.000Z');
      const result = await handle.executeUpdate(changeSubscription, { args: [{ kind: 'change_plan', plan: price('elite', 'month') }] });
      expect(result.effectiveAt.slice(0, 19)).toBe('2040-03-10T12:00:00');
      // March has 31 days; March 10 is day 10, so days 10-31 are unused: 22 of 31.
      //   credit for Community: 9700 x 22 / 31 = 6883.87 -> 6884
      //   charge for Elite:   500000 x 22 / 31 = 354838.71 -> 354839
      //   due now: 354839 - 6884 = 347955
      expect(result).toMatchObject({ kind: 'change_plan', timing: 'now', amountDue: 347_955, invoiceId: subscriptionInvoiceId(subscriptionId, { change: 1 }) });
      expect(result.subscription.plan.planId).toBe('elite');
      await h.waitForAttempts(result.invoiceId!, 1);
      await h.advanceTo(handle, '2040-04-02T00:00:00.000Z');

      const invoices = await listSubscriptionInvoices(h.pool, subscriptionId);
      expect(invoices.map((i) => [i.id, i.total, i.status])).toEqual([
        [subscriptionInvoiceId(subscriptionId, { epoch: 0, periodIndex: 0 }), 9_700, 'paid'],
        [subscriptionInvoiceId(subscriptionId, { change: 1 }), 347_955, 'paid'],
        [subscriptionInvoiceId(subscriptionId, { epoch: 0, periodIndex: 1 }), 500_000, 'paid'],
      ]);
      expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700, 347_955, 500_000]);
      const view = await handle.query(getSubscription);
      expect(view.currentPeriod).toEqual({ index: 1, start: '2040-04-01T00:00:00.000Z', end: '2040-05-01T00:00:00.000Z' });
      expect(view.nextCharge).toEqual({ at: '2040-05-01T00:00:00.000Z', amount: 500_000, currency: 'USD' });
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it('Group monthly -> quarterly on day 10 of a 30-day month starts a new quarter at once; a downgrade waits for the period end', async () => {
    await h.withWorker('interval', async (taskQueue) => {
      const { handle, subscriptionId } = await h.start(taskQueue, {
        plan: price('group', 'month'),
        paymentMethodToken: 'pm_card_visa',
        startAt: '2041-06-01T00:00:00.000Z',
      });
      await h.advanceTo(handle, '2041-06-10T12:00:00.000Z');
      const result = await handle.executeUpdate(changeSubscription, { args: [{ kind: 'change_plan', plan: price('group', 'quarter') }] });
      // June has 30 days; days 10-30 unused: 21 of 30. Credit 150000 x 21 / 30 = 105000.
      // The quarter starts now and is charged in full: 420000. Due: 420000 - 105000 = 315000.
      expect(result.amountDue).toBe(315_000);
      // The new quarter starts at the change: the workflow's clock, a few ms after the test moved it.
      expect(result.subscription.anchor.slice(0, 19)).toBe('2041-06-10T12:00:00');
      expect(result.subscription.nextCharge?.at.slice(0, 19)).toBe('2041-09-10T12:00:00');
      const anchor = result.subscription.anchor;
      const quarterEnd = result.subscription.nextCharge!.at;
      await h.waitForAttempts(result.invoiceId!, 1);

      // Down to monthly again: scheduled for the end of the paid quarter, nothing billed now.
      const downgrade = await handle.executeUpdate(changeSubscription, { args: [{ kind: 'change_plan', plan: price('group', 'month') }] });
      expect(downgrade).toMatchObject({ timing: 'period_end', effectiveAt: quarterEnd, amountDue: 0, invoiceId: null });
      expect(downgrade.subscription.scheduledChange?.plan.priceId).toBe('group-monthly-v1');
      await h.advanceTo(handle, '2041-09-11T00:00:00.000Z');

      const invoices = await listSubscriptionInvoices(h.pool, subscriptionId);
      // The anchor reset (epoch 1) restarts period numbering, under ids of their own; the
      // interval switch back at the quarter's end resets it again (epoch 2).
      expect(invoices.map((i) => [i.id, i.period_start, i.total])).toEqual([
        [subscriptionInvoiceId(subscriptionId, { epoch: 0, periodIndex: 0 }), '2041-06-01T00:00:00.000Z', 150_000],
        [subscriptionInvoiceId(subscriptionId, { change: 1 }), anchor, 315_000],
        [subscriptionInvoiceId(subscriptionId, { epoch: 2, periodIndex: 0 }), quarterEnd, 150_000],
      ]);
      const view = await handle.query(getSubscription);
      expect(view.plan.priceId).toBe('group-monthly-v1');
      expect(view.scheduledChange).toBeNull();
      expect(view.nextCharge?.at.slice(0, 19)).toBe('2041-10-10T12:00:00');
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it('refuses invalid changes with a reason, writes nothing to history and leaves the subscription as it was', async () => {
    await h.withWorker('invalid', async (taskQueue) => {
      // Kept open after the cancel (a 30-day reactivation window) so the last refusal meets a running workflow.
      const { handle } = await h.start(taskQueue, {
        plan: price('elite', 'month'),
        paymentMethodToken: 'pm_card_visa',
        startAt: '2042-01-05T00:00:00.000Z',
        reactivationWindowDays: 30,
      });
      await h.advanceTo(handle, '2042-01-06T00:00:00.000Z');
      const before = await handle.query(getSubscription);
      const expired: Coupon = { id: 'NEWYEAR', name: 'New year', discount: { kind: 'percent', basisPoints: 1000 }, duration: { kind: 'once' }, redeemBy: '2042-01-01T00:00:00.000Z' };

      await expect(handle.executeUpdate(changeSubscription, { args: [{ kind: 'change_plan', plan: price('elite', 'month') }] })).rejects.toMatchObject({
        cause: { message: 'subscription is already on Elite 1:1 Coaching (monthly); there is nothing to change' },
      });
      await expect(handle.executeUpdate(changeSubscription, { args: [{ kind: 'resume' }] })).rejects.toMatchObject({
        cause: { message: 'subscription is active, not paused; only a paused subscription can be resumed' },
      });
      await expect(handle.executeUpdate(applySubscriptionCoupon, { args: [{ coupon: expired }] })).rejects.toMatchObject({
        cause: { message: 'coupon NEWYEAR expired on 2042-01-01' },
      });
      expect(await handle.query(getSubscription)).toEqual(before);

      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await expect(handle.executeUpdate(changeSubscription, { args: [{ kind: 'change_plan', plan: price('group', 'month') }] })).rejects.toMatchObject({
        cause: { message: 'subscription is canceled; reactivate it before changing its plan' },
      });
      await h.skipTo('2042-02-10T00:00:00.000Z'); // past the reactivation window: the workflow completes
      await handle.result();
      // Only the cancel was accepted; the refusals never entered history.
      expect(await acceptedUpdates(handle)).toEqual(['cancelSubscription']);
    });
  });

  it('pause with a shifted anchor moves the next charge by the paused days; resume charges nothing', async () => {
    await h.withWorker('pause', async (taskQueue) => {
      const { handle, subscriptionId } = await h.start(taskQueue, { plan: price('community', 'month'), paymentMethodToken: 'pm_card_visa', startAt: '2043-01-01T00:00:00.000Z' });
      await h.advanceTo(handle, '2043-01-11T00:00:00.000Z');
      const paused = await handle.executeUpdate(changeSubscription, { args: [{ kind: 'pause', anchor: 'shift' }] });
      expect(paused.subscription.status).toBe('paused');
      expect(paused.subscription.nextCharge).toBeNull();
      expect(paused.subscription.access).toEqual({ granted: false, reason: 'paused' });
      await h.skipTo('2043-01-21T00:00:00.000Z');
      const resumed = await handle.executeUpdate(changeSubscription, { args: [{ kind: 'resume' }] });
      // Paused Jan 11 -> resumed Jan 21: 10 days. The period's end Feb 1 moves to Feb 11.
      expect(resumed).toMatchObject({ amountDue: 0, invoiceId: null });
      expect(resumed.subscription.status).toBe('active');
      expect(resumed.subscription.nextCharge?.at).toBe('2043-02-11T00:00:00.000Z');
      await h.advanceTo(handle, '2043-02-12T00:00:00.000Z');
      const invoices = await listSubscriptionInvoices(h.pool, subscriptionId);
      expect(invoices.map((i) => [i.period_start, i.period_end, i.total])).toEqual([
        ['2043-01-01T00:00:00.000Z', '2043-02-01T00:00:00.000Z', 9_700],
        ['2043-02-11T00:00:00.000Z', '2043-03-11T00:00:00.000Z', 9_700],
      ]);
      const view = await handle.query(getSubscription);
      expect(view.statusHistory.map((c) => c.to)).toEqual(['incomplete', 'active', 'paused', 'active']);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it('a 14-day trial charges nothing until it ends; a 20% coupon for 2 periods discounts exactly two invoices; UK VAT 20% is added', async () => {
    await h.withWorker('trial', async (taskQueue) => {
      const coupon: Coupon = { id: 'WELCOME20', name: 'Welcome', discount: { kind: 'percent', basisPoints: 2000 }, duration: { kind: 'repeating', periods: 2 } };
      const { handle, subscriptionId } = await h.start(taskQueue, {
        plan: price('community', 'month', 'GBP'),
        paymentMethodToken: 'pm_card_visa',
        startAt: '2044-05-01T00:00:00.000Z',
        trialDays: 14,
        coupon,
        tax: taxTreatmentFor({ country: 'GB' }),
      });
      await h.skipTo('2044-05-02T00:00:00.000Z');
      const trialing = await handle.query(getSubscription);
      expect(trialing.status).toBe('trialing');
      expect(trialing.trialEnd).toBe('2044-05-15T00:00:00.000Z');
      expect(trialing.access).toEqual({ granted: true, reason: 'in free trial' });
      expect(trialing.nextCharge?.at).toBe('2044-05-15T00:00:00.000Z');
      expect(await h.chargesFor(subscriptionId)).toEqual([]);

      await h.advanceTo(handle, '2044-07-16T00:00:00.000Z');
      const invoices = await listSubscriptionInvoices(h.pool, subscriptionId);
      // 7900 pence - 20% (1580) = 6320; VAT 20% of 6320 = 1264; total 7584 (twice).
      // Third period: 7900 + VAT 1580 = 9480.
      expect(invoices.map((i) => [i.period_start, i.total])).toEqual([
        ['2044-05-15T00:00:00.000Z', 7_584],
        ['2044-06-15T00:00:00.000Z', 7_584],
        ['2044-07-15T00:00:00.000Z', 9_480],
      ]);
      expect(await accountBalances(h.pool, [invoices[0]!.id])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:stripe', balance: 7_584 },
        { account: 'revenue', balance: -6_320 },
        { account: 'tax_payable', balance: -1_264 },
      ]);
      const view = await handle.query(getSubscription);
      expect(view.statusHistory.map((c) => [c.from, c.to])).toEqual([
        [null, 'trialing'],
        ['trialing', 'active'],
      ]);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await handle.result();
    });
  });

  it('a pending cancel can be undone before the period ends; after a cancel the subscription can be reactivated within the window', async () => {
    await h.withWorker('undo-reactivate', async (taskQueue) => {
      const { handle, subscriptionId } = await h.start(taskQueue, {
        plan: price('community', 'month'),
        paymentMethodToken: 'pm_card_visa',
        startAt: '2045-03-01T00:00:00.000Z',
        reactivationWindowDays: 30,
      });
      await h.advanceTo(handle, '2045-03-05T00:00:00.000Z');
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'period_end' }] });
      const undone = await handle.executeUpdate(changeSubscription, { args: [{ kind: 'undo_cancel' }] });
      expect(undone.subscription.cancelAtPeriodEnd).toBe(false);
      expect(undone.subscription.nextCharge?.at).toBe('2045-04-01T00:00:00.000Z');
      await expect(handle.executeUpdate(changeSubscription, { args: [{ kind: 'undo_cancel' }] })).rejects.toMatchObject({
        cause: { message: 'there is no pending cancellation to undo' },
      });

      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await h.skipTo('2045-03-20T00:00:00.000Z');
      const reactivated = await handle.executeUpdate(changeSubscription, { args: [{ kind: 'reactivate' }] });
      // A new period from today, billed in full: 9700.
      expect(reactivated).toMatchObject({ amountDue: 9_700, invoiceId: subscriptionInvoiceId(subscriptionId, { change: 1 }) });
      await waitFor(async () => (await handle.query(getSubscription)).status === 'active', 'reactivation paid');
      const view = await handle.query(getSubscription);
      expect(view.currentPeriod?.start.slice(0, 19)).toBe('2045-03-20T00:00:00');
      expect(view.currentPeriod?.end.slice(0, 19)).toBe('2045-04-20T00:00:00');
      expect(view.nextCharge?.at).toBe(view.currentPeriod?.end);
      expect(view.statusHistory.map((c) => c.to)).toEqual(['incomplete', 'active', 'canceled', 'incomplete', 'active']);
      expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700, 9_700]);
      await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
      await h.skipTo('2045-04-25T00:00:00.000Z'); // past the 30-day window: the workflow completes
      expect((await handle.result()).status).toBe('canceled');
    });
  });

  // A change that arrives while a charge is in flight applies to what the charge left: it waits
  // for the outcome instead of being overwritten by it (which once revived a canceled
  // subscription and spun its loop until the worker's deadlock detector killed it).
  describe('a change while the renewal charge is in flight', () => {
    /** Starts a Community subscription, pays its first month, and holds the renewal's charge at the gateway. */
    async function renewalInFlight(taskQueue: string, startAt: string, renewalAt: string) {
      const started = await h.start(taskQueue, { plan: price('community', 'month'), paymentMethodToken: 'pm_card_visa', startAt });
      await h.advanceTo(started.handle, startAt);
      await h.waitForAttempts(subscriptionInvoiceId(started.subscriptionId, { epoch: 0, periodIndex: 0 }), 1);
      const renewal = subscriptionInvoiceId(started.subscriptionId, { epoch: 0, periodIndex: 1 });
      h.simulator.hold(renewal);
      await h.skipTo(renewalAt);
      await h.simulator.waitForCharge((c) => c.metadata.invoice_id === renewal);
      return { ...started, renewal };
    }

    it('cancel now: the renewal that was being charged is paid, then the subscription is canceled and the workflow ends', async () => {
      await h.withWorker('cancel-inflight', async (taskQueue) => {
        const { handle, subscriptionId, renewal } = await renewalInFlight(taskQueue, '2046-01-01T00:00:00.000Z', '2046-02-01T00:00:00.000Z');
        const update = await handle.startUpdate(cancelSubscription, { args: [{ when: 'now' }], waitForStage: WorkflowUpdateStage.ACCEPTED });
        h.simulator.release();
        const view = await update.result();
        expect(view.status).toBe('canceled');
        expect(view.lastPayment).toMatchObject({ invoiceId: renewal, outcome: 'succeeded', amount: 9_700 });
        expect(view.nextCharge).toBeNull();
        expect(view.statusHistory.map((c) => [c.from, c.to])).toEqual([
          [null, 'incomplete'],
          ['incomplete', 'active'],
          ['active', 'canceled'],
        ]);
        expect(view.canceledAt?.slice(0, 16)).toBe('2046-02-01T00:00');
        expect((await handle.result()).status).toBe('canceled');
        recordHistoryIfAsked('v2-cancel-while-renewal-charge-in-flight', handle, h.address);
        const invoices = await listSubscriptionInvoices(h.pool, subscriptionId);
        expect(invoices.map((i) => [i.id, i.total, i.status])).toEqual([
          [subscriptionInvoiceId(subscriptionId, { epoch: 0, periodIndex: 0 }), 9_700, 'paid'],
          [renewal, 9_700, 'paid'],
        ]);
        expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700, 9_700]);
      });
    });

    it('upgrade to Elite: prorated against the renewal just paid (a full unused February), not against an unpaid period', async () => {
      await h.withWorker('upgrade-inflight', async (taskQueue) => {
        const { handle, subscriptionId, renewal } = await renewalInFlight(taskQueue, '2047-01-01T00:00:00.000Z', '2047-02-01T00:00:00.000Z');
        const update = await handle.startUpdate(changeSubscription, {
          args: [{ kind: 'change_plan', plan: price('elite', 'month') }],
          waitForStage: WorkflowUpdateStage.ACCEPTED,
        });
        h.simulator.release();
        const result = await update.result();
        // February 1-28 is wholly unused: credit the 9700 just paid, charge 500000 -> 490300 due.
        expect(result).toMatchObject({ kind: 'change_plan', timing: 'now', amountDue: 490_300, invoiceId: subscriptionInvoiceId(subscriptionId, { change: 1 }) });
        await h.waitForAttempts(result.invoiceId!, 1);
        const invoices = await listSubscriptionInvoices(h.pool, subscriptionId);
        expect(invoices.map((i) => [i.id, i.total, i.status])).toEqual([
          [subscriptionInvoiceId(subscriptionId, { epoch: 0, periodIndex: 0 }), 9_700, 'paid'],
          [renewal, 9_700, 'paid'],
          [subscriptionInvoiceId(subscriptionId, { change: 1 }), 490_300, 'paid'],
        ]);
        expect((await h.chargesFor(subscriptionId)).map((c) => c.amount)).toEqual([9_700, 9_700, 490_300]);
        await waitFor(async () => (await handle.query(getSubscription)).nextCharge?.amount === 500_000, 'the Elite price on the next renewal');
        expect((await handle.query(getSubscription)).nextCharge).toEqual({ at: '2047-03-01T00:00:00.000Z', amount: 500_000, currency: 'USD' });
        await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
        await handle.result();
      });
    });
  });
});
