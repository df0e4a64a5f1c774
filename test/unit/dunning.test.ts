import fc from 'fast-check';
import { classifyDecline } from '../../domain/declines';
import {
  DEFAULT_DUNNING_POLICY,
  dunningPolicyFor,
  dunningPolicyProblems,
  hasAccess,
  nextDunningStep,
  retryRequest,
  type DunningEvent,
  type DunningPolicy,
  type DunningState,
  type DunningTransition,
} from '../../domain/dunning';
import { FIXED_RETRY_DAYS, nextRetryAt } from '../../domain/dunning-policy';
import type { RetryDecision } from '../../domain/retry-model';

const INVOICE = 'in_abc_0003';
const T0 = '2032-03-05T10:00:00.000Z'; // a Friday
const fixed: DunningPolicy = { ...DEFAULT_DUNNING_POLICY, strategy: 'fixed' };

const failed = (at: string, declineCode: string, trigger: 'initial' | 'automatic' | 'new_payment_method' = 'automatic'): DunningEvent => ({
  kind: 'charge_failed',
  invoiceId: INVOICE,
  at,
  declineCode,
  trigger,
});

function decision(at: string, score = 0.3, plan: readonly string[] = [at]): RetryDecision {
  return { at, score, plan, reason: `model chose ${at}` };
}

describe('fixed retry schedule (kept for the workflow)', () => {
  it('retries on days 1, 3, 5, 7 after the first failure, then gives up', () => {
    expect(FIXED_RETRY_DAYS).toEqual([1, 3, 5, 7]);
    expect(nextRetryAt(T0, 1)).toBe('2032-03-06T10:00:00.000Z');
    expect(nextRetryAt(T0, 4)).toBe('2032-03-12T10:00:00.000Z');
    expect(nextRetryAt(T0, 5)).toBeNull();
  });
});

describe('dunning policy', () => {
  it('defaults to 8 retries within 14 days and applies per-plan overrides', () => {
    expect(DEFAULT_DUNNING_POLICY.budget).toEqual({ maxAttempts: 8, windowDays: 14 });
    expect(dunningPolicyFor('group')).toEqual(DEFAULT_DUNNING_POLICY);
    expect(dunningPolicyFor('elite')).toMatchObject({ graceDays: 10, endAction: 'pause', budget: { maxAttempts: 8, windowDays: 14 } });
    expect(dunningPolicyFor('community')).toMatchObject({ graceDays: 3, endAction: 'cancel' });
    expect(dunningPolicyFor('custom', { custom: { budget: { maxAttempts: 4 } } })).toMatchObject({ budget: { maxAttempts: 4, windowDays: 14 } });
  });

  it('explains what is wrong with a policy', () => {
    expect(dunningPolicyProblems(DEFAULT_DUNNING_POLICY)).toEqual([]);
    expect(dunningPolicyProblems({ ...DEFAULT_DUNNING_POLICY, budget: { maxAttempts: 1.5, windowDays: 0 }, fixedScheduleDays: [3, 1] })).toEqual([
      'budget.maxAttempts must be a non-negative integer',
      'budget.windowDays must be positive',
      'fixedScheduleDays must be positive and increasing',
    ]);
  });
});

describe('dunning steps', () => {
  it('soft decline on the fixed schedule: retries on days 1, 3, 5, 7, final notice with the last, then the end action', () => {
    const first = nextDunningStep(fixed, null, failed(T0, 'insufficient_funds', 'initial'), null);
    expect(first.state).toMatchObject({
      invoiceId: INVOICE,
      phase: 'retrying',
      firstFailureAt: T0,
      windowEndsAt: '2032-03-19T10:00:00.000Z',
      accessUntil: '2032-03-12T10:00:00.000Z',
      attempts: 1,
      automaticRetries: 0,
      lastDeclineClass: 'soft',
    });
    expect(first.step).toEqual({
      kind: 'retry_at',
      at: '2032-03-06T10:00:00.000Z',
      trigger: 'automatic',
      source: 'fixed_schedule',
      reason: 'fixed schedule: retry 1 on day 1 after the first failure',
      score: null,
    });
    expect(first.notices).toEqual([{ kind: 'payment_failed', at: T0, step: 1, idempotencyKey: 'notice:payment_failed:in_abc_0003:1' }]);

    const second = nextDunningStep(fixed, first.state, failed('2032-03-06T10:00:00.000Z', 'insufficient_funds'), null);
    expect(second.step).toMatchObject({ kind: 'retry_at', at: '2032-03-08T10:00:00.000Z' });
    expect(second.notices).toEqual([]);
    const third = nextDunningStep(fixed, second.state, failed('2032-03-08T10:00:00.000Z', 'do_not_honor'), null);
    expect(third.step).toMatchObject({ kind: 'retry_at', at: '2032-03-10T10:00:00.000Z' });
    const fourth = nextDunningStep(fixed, third.state, failed('2032-03-10T10:00:00.000Z', 'insufficient_funds'), null);
    expect(fourth.step).toMatchObject({ kind: 'retry_at', at: '2032-03-12T10:00:00.000Z' });
    expect(fourth.notices).toEqual([
      { kind: 'final_notice', at: '2032-03-10T10:00:00.000Z', step: 4, idempotencyKey: 'notice:final_notice:in_abc_0003:4' },
    ]);
    const last = nextDunningStep(fixed, fourth.state, failed('2032-03-12T10:00:00.000Z', 'insufficient_funds'), null);
    expect(last.step).toEqual({
      kind: 'end_with_action',
      action: 'mark_unpaid',
      at: '2032-03-12T10:00:00.000Z',
      reason: 'fixed schedule exhausted after 4 retries; mark unpaid',
    });
    expect(last.state).toMatchObject({ phase: 'ended', attempts: 5, automaticRetries: 4 });
  });

  it.each([
    ['lost_card', 'update_payment_method'],
    ['fraudulent', 'update_payment_method'],
    ['invalid_account', 'update_payment_method'],
    ['processor_declined_5140', 'update_payment_method'],
    ['expired_card', 'update_expired_card'],
    ['authentication_required', 'authenticate'],
  ] as const)('%s: asks the customer (%s) until the window closes, never retries blindly', (code, customerAction) => {
    const t = nextDunningStep(DEFAULT_DUNNING_POLICY, null, failed(T0, code, 'initial'), decision('2032-03-06T10:00:00.000Z'));
    expect(t.step).toEqual({
      kind: 'ask_for_new_method',
      until: '2032-03-19T10:00:00.000Z',
      customerAction,
      reason: expect.stringContaining('not retried blindly'),
    });
    expect(t.state.phase).toBe('awaiting_customer');
    expect(t.notices).toEqual([
      { kind: 'action_required', at: T0, step: 1, idempotencyKey: 'notice:action_required:in_abc_0003:1' },
      // Three days before the window closes.
      { kind: 'final_notice', at: '2032-03-16T10:00:00.000Z', step: 1, idempotencyKey: 'notice:final_notice:in_abc_0003:1' },
    ]);
    expect(retryRequest(DEFAULT_DUNNING_POLICY, null, failed(T0, code, 'initial'))).toBeNull();

    const closed = nextDunningStep(DEFAULT_DUNNING_POLICY, t.state, { kind: 'deadline_reached', at: '2032-03-19T10:00:00.000Z' }, null);
    expect(closed.step).toEqual({ kind: 'end_with_action', action: 'mark_unpaid', at: '2032-03-19T10:00:00.000Z', reason: 'no payment by 2032-03-19T10:00:00.000Z; mark unpaid' });
  });

  it('a new payment method is charged at once and a success ends dunning without moving the renewal', () => {
    const asked = nextDunningStep(DEFAULT_DUNNING_POLICY, null, failed(T0, 'stolen_card', 'initial'), null);
    const updated = nextDunningStep(DEFAULT_DUNNING_POLICY, asked.state, { kind: 'payment_method_updated', at: '2032-03-07T15:30:00.000Z' }, null);
    expect(updated.step).toEqual({
      kind: 'retry_at',
      at: '2032-03-07T15:30:00.000Z',
      trigger: 'new_payment_method',
      source: 'customer',
      reason: 'the customer added a new payment method: charge it now',
      score: null,
    });
    const paid = nextDunningStep(
      DEFAULT_DUNNING_POLICY,
      updated.state,
      { kind: 'charge_succeeded', invoiceId: INVOICE, at: '2032-03-07T15:30:00.000Z', trigger: 'new_payment_method' },
      null,
    );
    expect(paid.step).toEqual({ kind: 'recovered', at: '2032-03-07T15:30:00.000Z', reason: 'paid after 1 retry; the renewal date is unchanged' });
    expect(paid.state).toMatchObject({ phase: 'recovered', attempts: 2, automaticRetries: 0 });
    expect(paid.notices).toEqual([{ kind: 'recovered', at: '2032-03-07T15:30:00.000Z', step: 2, idempotencyKey: 'notice:recovered:in_abc_0003:2' }]);
    expect(hasAccess(paid.state, '2032-04-30T00:00:00.000Z')).toBe(true);
    // Closed is closed: later events change nothing.
    const again = nextDunningStep(DEFAULT_DUNNING_POLICY, paid.state, { kind: 'deadline_reached', at: '2032-03-19T10:00:00.000Z' }, null);
    expect(again).toEqual({ state: paid.state, step: { kind: 'recovered', at: '2032-03-07T15:30:00.000Z', reason: 'dunning already recovered' }, notices: [] });
  });

  it('a new card that soft-declines goes back to retrying', () => {
    const asked = nextDunningStep(DEFAULT_DUNNING_POLICY, null, failed(T0, 'expired_card', 'initial'), null);
    const updated = nextDunningStep(DEFAULT_DUNNING_POLICY, asked.state, { kind: 'payment_method_updated', at: '2032-03-06T09:00:00.000Z' }, null);
    const event = failed('2032-03-06T09:00:00.000Z', 'insufficient_funds', 'new_payment_method');
    expect(retryRequest(DEFAULT_DUNNING_POLICY, updated.state, event)).toEqual({
      declineCode: 'insufficient_funds',
      retryNumber: 1,
      attemptsLeft: 8,
      minHoursBetweenRetries: 12,
      firstFailureAt: T0,
      lastAttemptAt: '2032-03-06T09:00:00.000Z',
      window: { earliest: '2032-03-06T21:00:00.000Z', latest: '2032-03-19T10:00:00.000Z' },
    });
    const t = nextDunningStep(DEFAULT_DUNNING_POLICY, updated.state, event, decision('2032-03-08T12:00:00.000Z'));
    expect(t.step).toMatchObject({ kind: 'retry_at', at: '2032-03-08T12:00:00.000Z', source: 'model', trigger: 'automatic' });
    expect(t.state).toMatchObject({ phase: 'retrying', attempts: 2, automaticRetries: 0, finalNoticeScheduled: true });
    expect(t.notices).toEqual([]); // the final notice was already scheduled by the ask
  });

  it('smart: uses the model decision (stored with its reason and score), clamped into the window', () => {
    const event = failed(T0, 'insufficient_funds', 'initial');
    const request = retryRequest(DEFAULT_DUNNING_POLICY, null, event);
    expect(request).toEqual({
      declineCode: 'insufficient_funds',
      retryNumber: 1,
      attemptsLeft: 8,
      minHoursBetweenRetries: 12,
      firstFailureAt: T0,
      lastAttemptAt: T0,
      window: { earliest: '2032-03-05T22:00:00.000Z', latest: '2032-03-19T10:00:00.000Z' },
    });
    const t = nextDunningStep(DEFAULT_DUNNING_POLICY, null, event, decision('2032-03-13T07:00:00.000Z', 0.41));
    expect(t.step).toEqual({
      kind: 'retry_at',
      at: '2032-03-13T07:00:00.000Z',
      trigger: 'automatic',
      source: 'model',
      reason: 'model chose 2032-03-13T07:00:00.000Z',
      score: 0.41,
    });
    expect(t.state.scheduled).toEqual({ at: '2032-03-13T07:00:00.000Z', trigger: 'automatic', source: 'model', reason: 'model chose 2032-03-13T07:00:00.000Z', score: 0.41 });
    // A decision outside the window is pulled in.
    expect(nextDunningStep(DEFAULT_DUNNING_POLICY, null, event, decision('2032-03-05T11:00:00.000Z')).step).toMatchObject({ at: '2032-03-05T22:00:00.000Z' });
    expect(nextDunningStep(DEFAULT_DUNNING_POLICY, null, event, decision('2032-04-01T00:00:00.000Z')).step).toMatchObject({ at: '2032-03-19T10:00:00.000Z' });
    // No decision: the fixed schedule as a fallback.
    expect(nextDunningStep(DEFAULT_DUNNING_POLICY, null, event, null).step).toMatchObject({ at: '2032-03-06T10:00:00.000Z', source: 'fixed_schedule' });
  });

  it('smart: when the model finds no retry worth its cost, asks the customer instead', () => {
    const t = nextDunningStep(DEFAULT_DUNNING_POLICY, null, failed(T0, 'insufficient_funds', 'initial'), decision('2032-03-06T10:00:00.000Z', 0.004, []));
    expect(t.step).toMatchObject({ kind: 'ask_for_new_method', customerAction: 'update_payment_method', until: '2032-03-19T10:00:00.000Z' });
    expect(t.notices.map((n) => n.kind)).toEqual(['payment_failed', 'final_notice']);
  });

  it('one quick retry after a temporary error, then the normal spacing', () => {
    const first = failed(T0, 'processing_error', 'initial');
    expect(retryRequest(DEFAULT_DUNNING_POLICY, null, first)?.window.earliest).toBe('2032-03-05T11:00:00.000Z');
    const t1 = nextDunningStep(DEFAULT_DUNNING_POLICY, null, first, decision('2032-03-05T11:00:00.000Z'));
    expect(t1.state.quickRetryUsed).toBe(true);
    const second = failed('2032-03-05T11:00:00.000Z', 'processing_error');
    expect(retryRequest(DEFAULT_DUNNING_POLICY, t1.state, second)?.window.earliest).toBe('2032-03-05T23:00:00.000Z');
    // The quick retry that is also the budget's last keeps both marks.
    const single = nextDunningStep({ ...DEFAULT_DUNNING_POLICY, budget: { maxAttempts: 1, windowDays: 14 } }, null, first, decision('2032-03-05T11:00:00.000Z'));
    expect(single.state).toMatchObject({ quickRetryUsed: true, finalNoticeScheduled: true });
    expect(single.notices.map((n) => n.kind)).toEqual(['payment_failed', 'final_notice']);
  });

  it('budget exhausted -> the configured end action', () => {
    const policy: DunningPolicy = { ...dunningPolicyFor('elite'), budget: { maxAttempts: 2, windowDays: 14 } };
    let t = nextDunningStep(policy, null, failed(T0, 'insufficient_funds', 'initial'), decision('2032-03-06T10:00:00.000Z'));
    t = nextDunningStep(policy, t.state, failed('2032-03-06T10:00:00.000Z', 'insufficient_funds'), decision('2032-03-08T10:00:00.000Z'));
    expect(t.step).toMatchObject({ kind: 'retry_at', at: '2032-03-08T10:00:00.000Z' });
    expect(t.notices.map((n) => n.kind)).toEqual(['final_notice']); // the last retry of the budget
    expect(retryRequest(policy, t.state, failed('2032-03-08T10:00:00.000Z', 'insufficient_funds'))).toBeNull();
    t = nextDunningStep(policy, t.state, failed('2032-03-08T10:00:00.000Z', 'insufficient_funds'), null);
    expect(t.step).toEqual({
      kind: 'end_with_action',
      action: 'pause',
      at: '2032-03-08T10:00:00.000Z',
      reason: 'retry budget exhausted: 2 of 2 automatic retries used; pause',
    });
    expect(hasAccess(t.state, '2032-03-09T00:00:00.000Z')).toBe(false);
  });

  it('no retries on a plan without them: the customer is asked to pay', () => {
    const t = nextDunningStep({ ...DEFAULT_DUNNING_POLICY, strategy: 'none' }, null, failed(T0, 'insufficient_funds', 'initial'), null);
    expect(t.step).toMatchObject({ kind: 'ask_for_new_method', customerAction: 'update_payment_method' });
    expect(t.notices.map((n) => [n.kind, n.at])).toEqual([
      ['payment_failed', T0],
      ['final_notice', '2032-03-16T10:00:00.000Z'],
    ]);
  });

  it('keeps access through the grace period only', () => {
    const t = nextDunningStep(dunningPolicyFor('community'), null, failed(T0, 'insufficient_funds', 'initial'), null);
    expect(t.state.accessUntil).toBe('2032-03-08T10:00:00.000Z');
    expect(hasAccess(t.state, '2032-03-08T09:59:59.999Z')).toBe(true);
    expect(hasAccess(t.state, '2032-03-08T10:00:00.000Z')).toBe(false);
  });

  it('refuses events that do not belong', () => {
    expect(() => nextDunningStep(DEFAULT_DUNNING_POLICY, null, { kind: 'payment_method_updated', at: T0 }, null)).toThrow('dunning opens with a failed charge');
    const t = nextDunningStep(DEFAULT_DUNNING_POLICY, null, failed(T0, 'insufficient_funds', 'initial'), null);
    expect(() => nextDunningStep(DEFAULT_DUNNING_POLICY, t.state, { ...failed(T0, 'x'), invoiceId: 'in_other' } as DunningEvent, null)).toThrow('in_other');
  });

  // --- properties ---------------------------------------------------------------------------

  const codes = fc.constantFrom(
    'insufficient_funds',
    'do_not_honor',
    'generic_decline',
    'processing_error',
    'card_velocity_exceeded',
    'lost_card',
    'stolen_card',
    'fraudulent',
    'invalid_account',
    'expired_card',
    'authentication_required',
    'instrument_declined',
    'processor_declined_9520',
  );
  const strategy = fc.constantFrom('smart' as const, 'fixed' as const, 'none' as const);
  const budget = fc.record({ maxAttempts: fc.integer({ min: 0, max: 10 }), windowDays: fc.integer({ min: 1, max: 30 }) });

  it('property: retries stay inside the window and the budget, after the failure, and never follow a hard decline', () => {
    fc.assert(
      fc.property(
        strategy,
        budget,
        fc.array(fc.tuple(codes, fc.integer({ min: 0, max: 10 * 24 }), fc.double({ min: 0, max: 1, noNaN: true })), { minLength: 1, maxLength: 12 }),
        (strat, b, failures) => {
          const policy: DunningPolicy = { ...DEFAULT_DUNNING_POLICY, strategy: strat, budget: b };
          let state: DunningState | null = null;
          let now = Date.parse(T0);
          let trigger: 'initial' | 'automatic' | 'new_payment_method' = 'initial';
          for (const [code, hoursLater, pick] of failures) {
            const event = failed(new Date(now).toISOString(), code, trigger);
            const request = retryRequest(policy, state, event);
            // A model decision anywhere (even outside the window) when one is asked for.
            const d = request ? decision(new Date(Date.parse(request.window.earliest) - 86_400_000 + pick * 40 * 86_400_000).toISOString()) : null;
            let t: DunningTransition = nextDunningStep(policy, state, event, d);
            expect(new Set(t.notices.map((n) => n.idempotencyKey)).size).toBe(t.notices.length);
            if (t.step.kind === 'ask_for_new_method') {
              // The customer adds a new method some hours later: charged at once.
              now += (hoursLater + 1) * 3_600_000;
              t = nextDunningStep(policy, t.state, { kind: 'payment_method_updated', at: new Date(now).toISOString() }, null);
              expect(t.step).toMatchObject({ kind: 'retry_at', at: new Date(now).toISOString(), trigger: 'new_payment_method' });
            } else if (t.step.kind === 'retry_at') {
              // An automatic retry only follows a soft decline, on a plan that retries.
              expect(classifyDecline(code).retryable).toBe(true);
              expect(strat).not.toBe('none');
              expect(Date.parse(t.step.at)).toBeGreaterThan(now);
              expect(Date.parse(t.step.at)).toBeLessThanOrEqual(Date.parse(t.state.windowEndsAt));
              expect(t.state.automaticRetries).toBeLessThan(b.maxAttempts);
            } else {
              expect(t.step.kind).toBe('end_with_action');
              break;
            }
            if (t.step.kind !== 'retry_at') throw new Error('unreachable');
            now = Date.parse(t.step.at);
            trigger = t.step.trigger;
            expect(t.state.automaticRetries).toBeLessThanOrEqual(b.maxAttempts);
            state = t.state;
          }
        },
      ),
    );
  });
});
