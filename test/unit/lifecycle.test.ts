import fc from 'fast-check';
import { lookupRecurringPriceAt, trialDaysFor, type PriceSnapshot } from '../../domain/catalog';
import type { BillingInterval } from '../../domain/calendar';
import {
  activeState,
  classifyPlanChange,
  decideChange,
  markPeriodPaid,
  nextBillingDate,
  startNextPeriod,
  startSubscription,
  type ChangeDecision,
  type SubscriptionState,
} from '../../domain/lifecycle';
import type { Currency } from '../../domain/money';

function price(plan: string, interval: BillingInterval, currency: Currency = 'USD'): PriceSnapshot {
  const lookup = lookupRecurringPriceAt(plan, interval, currency, '2031-01-01T00:00:00.000Z');
  if (!lookup.ok) throw new Error(lookup.reason);
  return lookup.price;
}

const communityMonthly = price('community', 'month');
const eliteMonthly = price('elite', 'month');
const eliteAnnual = price('elite', 'year');
const groupMonthly = price('group', 'month');

// Anchor Apr 1 15:00: period 0 is April (30 days), period 1 is May (31 days).
const ANCHOR = '2031-04-01T15:00:00.000Z';
const DAY_10 = '2031-04-10T12:00:00.000Z';

function accepted(decision: ChangeDecision) {
  if (!decision.ok) throw new Error(`unexpectedly refused: ${decision.reason}`);
  return decision;
}

const community = (): SubscriptionState => activeState({ plan: communityMonthly, anchor: ANCHOR });

describe('lifecycle: refusals give a clear reason', () => {
  it('refuses a downgrade to the same plan', () => {
    expect(decideChange(community(), { kind: 'change_plan', at: DAY_10, plan: communityMonthly })).toEqual({
      ok: false,
      reason: 'subscription is already on Community Access (monthly); there is nothing to change',
    });
  });

  it('refuses to resume an active subscription', () => {
    expect(decideChange(community(), { kind: 'resume', at: DAY_10 })).toEqual({
      ok: false,
      reason: 'subscription is active, not paused; only a paused subscription can be resumed',
    });
  });

  it('refuses to change a canceled subscription', () => {
    const canceled = accepted(decideChange(community(), { kind: 'cancel', at: DAY_10, when: 'now' })).state;
    expect(decideChange(canceled, { kind: 'change_plan', at: DAY_10, plan: eliteMonthly })).toEqual({
      ok: false,
      reason: 'subscription is canceled; reactivate it before changing its plan',
    });
    expect(decideChange(canceled, { kind: 'change_quantity', at: DAY_10, quantity: 2 })).toEqual({
      ok: false,
      reason: 'subscription is canceled; reactivate it before changing its quantity',
    });
    expect(decideChange(canceled, { kind: 'cancel', at: DAY_10, when: 'now' })).toEqual({ ok: false, reason: 'subscription is already canceled' });
    expect(decideChange(canceled, { kind: 'undo_cancel', at: DAY_10 })).toEqual({ ok: false, reason: 'subscription is already canceled; reactivate it instead' });
  });

  it('refuses other changes that make no sense', () => {
    const s = community();
    expect(decideChange(s, { kind: 'undo_cancel', at: DAY_10 })).toEqual({ ok: false, reason: 'there is no pending cancellation to undo' });
    expect(decideChange(s, { kind: 'reactivate', at: DAY_10 })).toEqual({
      ok: false,
      reason: 'subscription is active; only a canceled or unpaid subscription can be reactivated',
    });
    expect(decideChange(s, { kind: 'change_quantity', at: DAY_10, quantity: 1 })).toEqual({
      ok: false,
      reason: 'subscription already has a quantity of 1; there is nothing to change',
    });
    expect(decideChange(s, { kind: 'change_plan', at: DAY_10, plan: price('elite', 'month', 'GBP') })).toEqual({
      ok: false,
      reason: 'a subscription cannot change currency (USD to GBP); cancel it and start a new one',
    });
    expect(decideChange({ ...s, status: 'past_due' }, { kind: 'change_plan', at: DAY_10, plan: eliteMonthly })).toEqual({
      ok: false,
      reason: 'subscription has an overdue invoice; settle it before changing its plan',
    });
    const paused = accepted(decideChange(s, { kind: 'pause', at: DAY_10, anchor: 'shift' })).state;
    expect(decideChange(paused, { kind: 'pause', at: DAY_10, anchor: 'shift' })).toEqual({ ok: false, reason: 'subscription is already paused' });
    expect(decideChange(paused, { kind: 'change_plan', at: DAY_10, plan: eliteMonthly })).toEqual({
      ok: false,
      reason: 'subscription is paused; resume it before changing its plan',
    });
    expect(decideChange(s, { kind: 'change_anchor', at: DAY_10, newAnchor: '2031-06-15T00:00:00.000Z' })).toEqual({
      ok: false,
      reason: 'the new billing date must be within one month of today (by 2031-05-10)',
    });
  });
});

describe('lifecycle: plan changes', () => {
  it('applies an upgrade now with proration (Community -> Elite on day 10 of April)', () => {
    // 9,700 x 21/30 = 6,790 credited; 500,000 x 21/30 = 350,000 charged; 343,210 due now.
    const d = accepted(decideChange(community(), { kind: 'change_plan', at: DAY_10, plan: eliteMonthly }));
    expect(d).toMatchObject({ timing: 'now', effectiveAt: DAY_10, amountDue: 343_210, anchorReset: false });
    expect(d.invoiceLines.map((l) => l.amount)).toEqual([-6_790, 350_000]);
    expect(d.state).toMatchObject({ plan: eliteMonthly, anchor: ANCHOR, paid: { amount: 350_000, start: DAY_10, end: '2031-05-01T15:00:00.000Z' } });
    expect(nextBillingDate(d.state)).toBe('2031-05-01T15:00:00.000Z');
  });

  it('schedules a downgrade for period end, then applies it at the boundary', () => {
    const elite = activeState({ plan: eliteMonthly, anchor: ANCHOR });
    const d = accepted(decideChange(elite, { kind: 'change_plan', at: DAY_10, plan: groupMonthly }));
    expect(d).toMatchObject({ timing: 'period_end', effectiveAt: '2031-05-01T15:00:00.000Z', amountDue: 0, invoiceLines: [] });
    expect(d.state.scheduledChange).toEqual({ effectiveAt: '2031-05-01T15:00:00.000Z', plan: groupMonthly, quantity: 1 });
    expect(decideChange(d.state, { kind: 'change_plan', at: DAY_10, plan: groupMonthly })).toEqual({
      ok: false,
      reason: 'a change to Group Coaching (monthly) is already scheduled for 2031-05-01',
    });
    const next = startNextPeriod(d.state);
    expect(next.anchorReset).toBe(false);
    expect(next.state).toMatchObject({ plan: groupMonthly, scheduledChange: null, currentPeriod: { index: 1, start: '2031-05-01T15:00:00.000Z' } });
  });

  it('switches monthly -> annual now (new year from today), and annual -> monthly at the end of the year', () => {
    // Elite monthly, day 10 of April: 500,000 x 21/30 = 350,000 credited; 5,400,000 charged; 5,050,000 due.
    const up = accepted(decideChange(activeState({ plan: eliteMonthly, anchor: ANCHOR }), { kind: 'change_plan', at: DAY_10, plan: eliteAnnual }));
    expect(up).toMatchObject({ timing: 'now', amountDue: 5_050_000, anchorReset: true });
    expect(up.state).toMatchObject({ anchor: DAY_10, nextPeriodIndex: 1, currentPeriod: { start: DAY_10, end: '2032-04-10T12:00:00.000Z' } });

    const back = accepted(decideChange(up.state, { kind: 'change_plan', at: '2031-09-01T00:00:00.000Z', plan: eliteMonthly }));
    expect(back).toMatchObject({ timing: 'period_end', effectiveAt: '2032-04-10T12:00:00.000Z', amountDue: 0 });
    const renewed = startNextPeriod(back.state);
    expect(renewed.anchorReset).toBe(true);
    expect(renewed.state).toMatchObject({
      plan: eliteMonthly,
      anchor: '2032-04-10T12:00:00.000Z',
      currentPeriod: { index: 0, start: '2032-04-10T12:00:00.000Z', end: '2032-05-10T12:00:00.000Z' },
      nextPeriodIndex: 1,
    });
  });

  it('classifies changes by tier, then interval, then seats', () => {
    const c = (plan: PriceSnapshot, quantity = 1) => ({ plan, quantity });
    expect(classifyPlanChange(c(communityMonthly), c(eliteMonthly))).toBe('upgrade');
    expect(classifyPlanChange(c(eliteAnnual), c(communityMonthly))).toBe('downgrade');
    expect(classifyPlanChange(c(eliteMonthly), c(eliteAnnual))).toBe('longer_interval');
    expect(classifyPlanChange(c(eliteAnnual), c(eliteMonthly))).toBe('shorter_interval');
    expect(classifyPlanChange(c(communityMonthly), c(communityMonthly, 3))).toBe('more_seats');
    expect(classifyPlanChange(c(communityMonthly, 3), c(communityMonthly))).toBe('fewer_seats');
    const v2 = lookupRecurringPriceAt('community', 'month', 'USD', '2032-02-01T00:00:00.000Z');
    if (!v2.ok) throw new Error(v2.reason);
    expect(classifyPlanChange(c(communityMonthly), c(v2.price))).toBe('price_version');
  });

  it('adds seats now (prorated) and removes them at period end', () => {
    // 1 -> 3 seats: 6,790 credited; 29,100 x 21/30 = 20,370 charged; 13,580 due.
    const more = accepted(decideChange(community(), { kind: 'change_quantity', at: DAY_10, quantity: 3 }));
    expect(more).toMatchObject({ timing: 'now', amountDue: 13_580, state: { quantity: 3 } });
    const fewer = accepted(decideChange(more.state, { kind: 'change_quantity', at: '2031-04-20T00:00:00.000Z', quantity: 2 }));
    expect(fewer).toMatchObject({ timing: 'period_end', amountDue: 0, state: { quantity: 3, scheduledChange: { quantity: 2 } } });
  });

  it('switches plan during a trial without proration', () => {
    const trial = startSubscription({ plan: communityMonthly, at: ANCHOR, trialDays: trialDaysFor(communityMonthly.priceId) });
    expect(trial).toMatchObject({ status: 'trialing', trialEnd: '2031-04-15T15:00:00.000Z', anchor: '2031-04-15T15:00:00.000Z', currentPeriod: null });
    expect(nextBillingDate(trial)).toBe('2031-04-15T15:00:00.000Z');
    const d = accepted(decideChange(trial, { kind: 'change_plan', at: DAY_10, plan: eliteMonthly }));
    expect(d).toMatchObject({ timing: 'now', amountDue: 0, invoiceLines: [], state: { status: 'trialing', plan: eliteMonthly } });
    const firstPeriod = startNextPeriod(d.state).state;
    expect(firstPeriod).toMatchObject({ status: 'incomplete', currentPeriod: { index: 0, start: '2031-04-15T15:00:00.000Z' }, trialEnd: null });
    expect(markPeriodPaid(firstPeriod, 500_000)).toMatchObject({ status: 'active', paid: { amount: 500_000 } });
  });
});

describe('lifecycle: pause, resume, cancel, reactivate, anchor', () => {
  it('pause with a shifted anchor keeps the unused days for after the resume', () => {
    // Paused on day 10 of April (21 days unused), resumed Apr 25: 15 days later. The next charge
    // moves from May 1 to May 16, leaving Apr 25 -> May 16 = 21 days, as many as were unused.
    const paused = accepted(decideChange(community(), { kind: 'pause', at: DAY_10, anchor: 'shift' }));
    expect(paused).toMatchObject({ amountDue: 0, state: { status: 'paused' } });
    expect(nextBillingDate(paused.state)).toBeNull();
    const resumed = accepted(decideChange(paused.state, { kind: 'resume', at: '2031-04-25T09:00:00.000Z' }));
    expect(resumed).toMatchObject({ amountDue: 0, anchorReset: true, state: { status: 'active', anchor: '2031-05-16T15:00:00.000Z', nextPeriodIndex: 0 } });
    expect(nextBillingDate(resumed.state)).toBe('2031-05-16T15:00:00.000Z');
  });

  it('pause keeping the anchor credits the unused days, and resume charges the rest of that period', () => {
    // Pause on day 10 of April: 9,700 x 21/30 = 6,790 credited.
    const paused = accepted(decideChange(community(), { kind: 'pause', at: DAY_10, anchor: 'keep' }));
    expect(paused.amountDue).toBe(-6_790);
    // Resume May 15 12:00: the May period (31 days) has 14 used, 17 unused: 9,700 x 17/31 = 5,319.35 -> 5,319.
    const resumed = accepted(decideChange(paused.state, { kind: 'resume', at: '2031-05-15T12:00:00.000Z' }));
    expect(resumed).toMatchObject({ amountDue: 5_319, anchorReset: false, state: { anchor: ANCHOR, nextPeriodIndex: 2 } });
    expect(nextBillingDate(resumed.state)).toBe('2031-06-01T15:00:00.000Z');
  });

  it('cancels at period end, undoes it, cancels now, and reactivates', () => {
    const atEnd = accepted(decideChange(community(), { kind: 'cancel', at: DAY_10, when: 'period_end' }));
    expect(atEnd).toMatchObject({ timing: 'period_end', effectiveAt: '2031-05-01T15:00:00.000Z', state: { cancelAtPeriodEnd: true, status: 'active' } });
    expect(decideChange(atEnd.state, { kind: 'reactivate', at: DAY_10 })).toEqual({
      ok: false,
      reason: 'subscription is set to cancel at period end but is still running; undo the cancellation instead',
    });
    const undone = accepted(decideChange(atEnd.state, { kind: 'undo_cancel', at: DAY_10 }));
    expect(undone.state.cancelAtPeriodEnd).toBe(false);
    expect(startNextPeriod(atEnd.state).state).toMatchObject({ status: 'canceled', canceledAt: '2031-05-01T15:00:00.000Z' });

    // Cancel now with a refund of unused time: 6,790 credited.
    const now = accepted(decideChange(community(), { kind: 'cancel', at: DAY_10, when: 'now', refundUnusedTime: true }));
    expect(now).toMatchObject({ amountDue: -6_790, state: { status: 'canceled', canceledAt: DAY_10 } });

    const back = accepted(decideChange(now.state, { kind: 'reactivate', at: '2031-06-05T10:00:00.000Z' }));
    expect(back).toMatchObject({
      amountDue: 9_700,
      anchorReset: true,
      state: { status: 'incomplete', anchor: '2031-06-05T10:00:00.000Z', canceledAt: null, currentPeriod: { start: '2031-06-05T10:00:00.000Z', end: '2031-07-05T10:00:00.000Z' } },
    });
  });

  it('moves the billing anchor with proration', () => {
    // Credit 6,790 (21/30 unused); stub Apr 10 -> Apr 20 charged 9,700 x 10/31 = 3,129; -3,661 net.
    const d = accepted(decideChange(community(), { kind: 'change_anchor', at: DAY_10, newAnchor: '2031-04-20T15:00:00.000Z' }));
    expect(d).toMatchObject({ amountDue: -3_661, anchorReset: true, state: { anchor: '2031-04-20T15:00:00.000Z', nextPeriodIndex: 0 } });
    expect(nextBillingDate(d.state)).toBe('2031-04-20T15:00:00.000Z');
  });
});

describe('lifecycle property: whatever the sequence of changes, credits never exceed payments', () => {
  const plans = [communityMonthly, price('community', 'year'), groupMonthly, price('group', 'quarter'), eliteMonthly, eliteAnnual];
  const request = fc.oneof(
    fc.record({ kind: fc.constant('change_plan' as const), plan: fc.constantFrom(...plans), quantity: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('change_quantity' as const), quantity: fc.integer({ min: 1, max: 5 }) }),
    fc.record({ kind: fc.constant('pause' as const), anchor: fc.constantFrom('shift' as const, 'keep' as const) }),
    fc.record({ kind: fc.constant('resume' as const) }),
    fc.record({ kind: fc.constant('cancel' as const), when: fc.constantFrom('now' as const, 'period_end' as const), refundUnusedTime: fc.boolean() }),
    fc.record({ kind: fc.constant('undo_cancel' as const) }),
    fc.record({ kind: fc.constant('reactivate' as const) }),
    fc.record({ kind: fc.constant('change_anchor' as const), daysAhead: fc.integer({ min: 1, max: 27 }) }),
  );
  const step = fc.record({ hoursLater: fc.integer({ min: 0, max: 24 * 60 }), request });

  it('property: total credited <= total paid; amountDue is the sum of the lines; paid coverage is never negative', () => {
    fc.assert(
      fc.property(fc.constantFrom(...plans), fc.array(step, { maxLength: 25 }), (plan, steps) => {
        let state = activeState({ plan, anchor: ANCHOR });
        let paid = plan.unitAmount;
        let credited = 0;
        let now = Date.parse(ANCHOR);
        for (const { hoursLater, request: r } of steps) {
          now += hoursLater * 3_600_000;
          const at = new Date(now).toISOString();
          // Renew (and pay in full) every period boundary passed while the subscription runs.
          while ((state.status === 'active' || state.status === 'past_due') && state.currentPeriod && Date.parse(state.currentPeriod.end) <= now) {
            const next = startNextPeriod(state).state;
            if (next.status === 'canceled') {
              state = next;
              break;
            }
            const amount = next.plan.unitAmount * next.quantity;
            paid += amount;
            state = markPeriodPaid(next, amount);
          }
          const decision =
            r.kind === 'change_anchor'
              ? decideChange(state, { kind: 'change_anchor', at, newAnchor: new Date(now + r.daysAhead * 86_400_000).toISOString() })
              : r.kind === 'change_plan'
                ? decideChange(state, { kind: 'change_plan', at, plan: r.plan, quantity: r.quantity })
                : decideChange(state, { ...r, at } as never);
          if (!decision.ok) continue;
          expect(decision.amountDue).toBe(decision.invoiceLines.reduce((s, l) => s + l.amount, 0));
          // Each decision credits at most what was paid for the days it credits.
          const creditedNow = decision.invoiceLines.reduce((s, l) => s + Math.max(0, -l.amount), 0);
          expect(creditedNow).toBeLessThanOrEqual(state.paid?.amount ?? 0);
          for (const line of decision.invoiceLines) {
            if (line.amount < 0) credited -= line.amount;
            else paid += line.amount;
          }
          state = decision.state;
          if (state.status === 'incomplete') state = markPeriodPaid(state, decision.amountDue);
          expect(state.paid?.amount ?? 0).toBeGreaterThanOrEqual(0);
          expect(credited).toBeLessThanOrEqual(paid);
        }
      }),
    );
  });
});
