import fc from 'fast-check';
import { DAY_MS } from '../../domain/calendar';
import {
  candidateSlots,
  chooseRetryTime,
  daysSinceCommonPayday,
  DEFAULT_RETRY_MODEL_PARAMS,
  emptyRetryModel,
  estimateRetrySuccess,
  factorEffects,
  parseRetryModel,
  serializeRetryModel,
  trainRetryModel,
  updateRetryModel,
  type PaymentAttemptRecord,
  type RetryFeatures,
} from '../../domain/retry-model';

const day = (isoDate: string) => Date.parse(`${isoDate}T00:00:00.000Z`) / DAY_MS;

// 2032-01-13 is a Tuesday, 2032-01-15 a Thursday (and a payday: the 15th).
const features: RetryFeatures = {
  declineCode: 'insufficient_funds',
  retryNumber: 1,
  attemptsLeft: 8,
  minHoursBetweenRetries: 12,
  firstFailureAt: '2032-01-13T20:00:00.000Z',
  lastAttemptAt: '2032-01-13T20:00:00.000Z',
  window: { earliest: '2032-01-15T00:00:00.000Z', latest: '2032-01-15T23:59:00.000Z' },
  amount: 9_700,
  gateway: 'stripe',
  cardType: 'debit',
  utcOffsetMinutes: 0,
  customerHistory: [],
};

function attempt(overrides: Partial<PaymentAttemptRecord> & Pick<PaymentAttemptRecord, 'invoiceId' | 'at'>): PaymentAttemptRecord {
  return {
    customerId: 'cus_1',
    succeeded: false,
    declineCode: 'insufficient_funds',
    trigger: 'automatic',
    retryNumber: 1,
    amount: 9_700,
    gateway: 'stripe',
    cardType: 'debit',
    utcOffsetMinutes: 0,
    ...overrides,
  };
}

describe('common paydays', () => {
  it.each([
    ['2032-01-15', 0], // Thursday the 15th
    ['2032-01-16', 1],
    ['2032-01-30', 0], // Friday: January's last business day (the 31st is a Saturday)
    ['2032-01-31', 1],
    ['2032-02-01', 2], // a Sunday 1st is paid the Friday before
    ['2032-02-02', 3],
    ['2032-02-13', 0], // Friday before Sunday the 15th
    ['2032-02-29', 2], // leap day, a Sunday: February's last business day was Friday the 27th
  ])('%s is %i days after a common payday', (date, days) => {
    expect(daysSinceCommonPayday(day(date))).toBe(days);
  });
});

describe('retry model', () => {
  it('offers the window start and the local hour-bucket starts as slots', () => {
    // UTC-5: bucket starts 21:00, 00:00, 06:00 local are 02:00, 05:00, 11:00 UTC.
    expect(candidateSlots({ earliest: '2032-01-14T22:30:00.000Z', latest: '2032-01-15T12:00:00.000Z' }, '2032-01-14T10:30:00.000Z', -300).map((t) => new Date(t).toISOString())).toEqual([
      '2032-01-14T22:30:00.000Z',
      '2032-01-15T02:00:00.000Z',
      '2032-01-15T05:00:00.000Z',
      '2032-01-15T11:00:00.000Z',
    ]);
    expect(() => candidateSlots({ earliest: '2032-01-15T00:00:00.000Z', latest: '2032-01-14T00:00:00.000Z' }, '2032-01-13T00:00:00.000Z')).toThrow(RangeError);
  });

  it('cold start: the prior alone picks payday morning, with its reason (worked out by hand)', () => {
    const decision = chooseRetryTime(emptyRetryModel(), features, '2032-01-13T20:00:00.000Z');
    // Odds multipliers of 06:00 on Thursday the 15th: amount $20-100 1.1, debit 0.95, first retry
    // 1.15, 1-3 days after the failure 1.05, 1-2 days after the last attempt 1.0, 06-09 local 1.1,
    // payday 1.4, a payday since the last attempt 1.5, Thursday 1.05 -> x3.0606. Prior odds of
    // insufficient funds 0.15/0.85 = 0.17647 -> 0.54010 -> p = 0.54010 / 1.54010 = 0.3507.
    expect(decision.at).toBe('2032-01-15T06:00:00.000Z');
    expect(decision.score).toBe(0.3507);
    // The second planned attempt: 21:00 the same day (15 h later; 00:00 is too close to 06:00):
    // no payday since 06:00 0.75, second retry 1.0, <1 day after the last attempt 0.8, 21-24 0.9
    // -> p = 0.1332; together 1 - 0.6493 x 0.8668 = 43.7%.
    expect(decision.plan).toEqual(['2032-01-15T06:00:00.000Z', '2032-01-15T21:00:00.000Z']);
    expect(decision.reason).toBe(
      'retry Thu 2032-01-15 06:00 UTC: estimated 35.1% success after insufficient_funds (insufficient_funds; base 15.0% from prior + 0 past retries); ' +
        'main factors: a payday has passed since the last attempt (odds x1.50), on a common payday (1st, 15th or last business day) (odds x1.40), ' +
        'first retry (odds x1.15), early morning (06-09 local) (odds x1.10); ' +
        'plan of 2 attempts (Thu 2032-01-15 06:00, Thu 2032-01-15 21:00 UTC) recovers an estimated 43.7%',
    );
    expect(estimateRetrySuccess(emptyRetryModel(), features, '2032-01-15T06:00:00.000Z')).toBeCloseTo(0.350693, 5);
  });

  it('a temporary error is retried at the first allowed instant', () => {
    const decision = chooseRetryTime(
      emptyRetryModel(),
      { ...features, declineCode: 'processing_error', window: { earliest: '2032-01-13T21:00:00.000Z', latest: '2032-01-27T20:00:00.000Z' } },
      '2032-01-13T20:00:00.000Z',
    );
    expect(decision.at).toBe('2032-01-13T21:00:00.000Z');
    expect(decision.reason).toContain('(temporary_error; base 60.0% from prior + 0 past retries)');
  });

  it('plans no attempt when none is worth its cost, and says so', () => {
    const decision = chooseRetryTime(
      { ...emptyRetryModel(), params: { ...DEFAULT_RETRY_MODEL_PARAMS, attemptCostMinorUnits: 9_000 } },
      { ...features, declineCode: 'lost_card' },
      '2032-01-13T20:00:00.000Z',
    );
    expect(decision.plan).toEqual([]);
    expect(decision.reason).toContain('no attempt is worth its cost: ask the customer');
  });

  it('counts automatic retries by decline group and factor bucket', () => {
    const history: PaymentAttemptRecord[] = [
      attempt({ invoiceId: 'in_1', at: '2032-01-13T20:00:00.000Z', trigger: 'initial', retryNumber: 0 }),
      attempt({ invoiceId: 'in_1', at: '2032-01-15T06:00:00.000Z', succeeded: true, declineCode: null }),
      // Not counted: a new method's charge, a first charge.
      attempt({ invoiceId: 'in_2', at: '2032-01-20T10:00:00.000Z', trigger: 'initial', retryNumber: 0, declineCode: 'lost_card' }),
      attempt({ invoiceId: 'in_2', at: '2032-01-21T10:00:00.000Z', trigger: 'new_payment_method', retryNumber: 0, succeeded: true, declineCode: null }),
      // The same customer next month, recovered on the 15th before: a Sunday this time.
      attempt({ invoiceId: 'in_3', at: '2032-02-13T20:00:00.000Z', trigger: 'initial', retryNumber: 0, declineCode: 'do_not_honor' }),
      attempt({ invoiceId: 'in_3', at: '2032-02-15T09:00:00.000Z', declineCode: 'do_not_honor' }),
    ];
    const model = trainRetryModel(history);
    expect(model.retriesCounted).toBe(2);
    const funds = model.counts.insufficient_funds;
    expect(funds.base).toEqual({ successes: 1, trials: 1 });
    expect(funds.factors.payday.payday).toEqual({ successes: 1, trials: 1 });
    expect(funds.factors.fresh_payday.yes).toEqual({ successes: 1, trials: 1 });
    expect(funds.factors.weekday.thu).toEqual({ successes: 1, trials: 1 });
    expect(funds.factors.hour.h06_09).toEqual({ successes: 1, trials: 1 });
    expect(funds.factors.gap['1_2d']).toEqual({ successes: 1, trials: 1 });
    expect(funds.factors.elapsed['1_3d']).toEqual({ successes: 1, trials: 1 });
    expect(funds.factors.customer_day.no_history).toEqual({ successes: 1, trials: 1 });
    const issuer = model.counts.issuer_decline;
    expect(issuer.base).toEqual({ successes: 0, trials: 1 });
    // Feb 15 is 0 days from Jan 15 by day of month (near); Sunday vs Thursday (other); the 15th
    // falls on a Sunday, so the payday was Friday the 13th, two days before.
    expect(issuer.factors.customer_day.near).toEqual({ successes: 0, trials: 1 });
    expect(issuer.factors.customer_weekday.other).toEqual({ successes: 0, trials: 1 });
    expect(issuer.factors.payday.after_1_2).toEqual({ successes: 0, trials: 1 });
    expect(model.counts.hard.base).toEqual({ successes: 0, trials: 0 });
  });

  it('learns: history moves the estimate away from the prior, and effects are reported', () => {
    const history: PaymentAttemptRecord[] = [];
    for (let i = 0; i < 40; i++) {
      const base = Date.parse('2031-06-02T14:00:00.000Z') + i * 7 * DAY_MS; // Mondays
      history.push(attempt({ invoiceId: `in_${i}`, customerId: `cus_${i}`, at: new Date(base).toISOString(), trigger: 'initial', retryNumber: 0 }));
      // Retries on Fridays always work, on Wednesdays never.
      history.push(attempt({ invoiceId: `in_${i}`, customerId: `cus_${i}`, at: new Date(base + 2 * DAY_MS).toISOString() }));
      history.push(attempt({ invoiceId: `in_${i}`, customerId: `cus_${i}`, at: new Date(base + 4 * DAY_MS).toISOString(), retryNumber: 2, succeeded: true, declineCode: null }));
    }
    const model = trainRetryModel(history);
    const effects = factorEffects(model, 'insufficient_funds');
    expect(effects.trials).toBe(80);
    expect(effects.effects.weekday.fri!.oddsMultiplier).toBeGreaterThan(2);
    expect(effects.effects.weekday.wed!.oddsMultiplier).toBeLessThan(0.5);
    const wide = { ...features, window: { earliest: '2032-01-14T08:00:00.000Z', latest: '2032-01-20T20:00:00.000Z' } };
    const friday = estimateRetrySuccess(model, wide, '2032-01-16T14:00:00.000Z');
    const wednesday = estimateRetrySuccess(model, wide, '2032-01-14T14:00:00.000Z');
    expect(friday).toBeGreaterThan(wednesday * 3);
  });

  it('updating batch by batch equals training on everything', () => {
    const first = [
      attempt({ invoiceId: 'in_1', at: '2032-01-13T20:00:00.000Z', trigger: 'initial', retryNumber: 0 }),
      attempt({ invoiceId: 'in_1', at: '2032-01-15T06:00:00.000Z', succeeded: true, declineCode: null }),
    ];
    const second = [
      attempt({ invoiceId: 'in_3', at: '2032-02-13T20:00:00.000Z', trigger: 'initial', retryNumber: 0, declineCode: 'do_not_honor' }),
      attempt({ invoiceId: 'in_3', at: '2032-02-15T09:00:00.000Z', declineCode: 'do_not_honor' }),
    ];
    expect(updateRetryModel(trainRetryModel(first), second, first)).toEqual(trainRetryModel([...second, ...first]));
  });

  it('serializes to JSON and back, and refuses a broken model', () => {
    const model = trainRetryModel([
      attempt({ invoiceId: 'in_1', at: '2032-01-13T20:00:00.000Z', trigger: 'initial', retryNumber: 0 }),
      attempt({ invoiceId: 'in_1', at: '2032-01-15T06:00:00.000Z', succeeded: true, declineCode: null }),
    ]);
    const json = serializeRetryModel(model);
    expect(parseRetryModel(json)).toEqual(model);
    expect(chooseRetryTime(parseRetryModel(json), features, '2032-01-13T20:00:00.000Z')).toEqual(chooseRetryTime(model, features, '2032-01-13T20:00:00.000Z'));
    expect(() => parseRetryModel(JSON.stringify({ ...model, version: 2 }))).toThrow('unsupported retry model version 2');
    const broken = JSON.parse(json);
    broken.counts.insufficient_funds.factors.hour.h06_09 = { successes: 3, trials: 1 };
    expect(() => parseRetryModel(JSON.stringify(broken))).toThrow('counts.insufficient_funds.factors.hour.h06_09 is missing or invalid');
  });

  // --- properties ---------------------------------------------------------------------------

  const instant = fc.integer({ min: Date.parse('2031-01-01T00:00:00Z'), max: Date.parse('2033-12-31T00:00:00Z') });
  const arbitraryFeatures = fc
    .record({
      code: fc.constantFrom('insufficient_funds', 'do_not_honor', 'processing_error', 'card_velocity_exceeded', 'generic_decline', 'processor_declined_5120'),
      failure: instant,
      sinceFailureHours: fc.integer({ min: 0, max: 10 * 24 }),
      gapHours: fc.integer({ min: 1, max: 24 }),
      windowHours: fc.integer({ min: 0, max: 14 * 24 }),
      retryNumber: fc.integer({ min: 1, max: 8 }),
      attemptsLeft: fc.integer({ min: 1, max: 8 }),
      amount: fc.integer({ min: 50, max: 1_000_000 }),
      gateway: fc.constantFrom('stripe', 'paypal', 'adyen'),
      cardType: fc.constantFrom('credit' as const, 'debit' as const, 'prepaid' as const, 'unknown' as const),
      offset: fc.constantFrom(-480, -300, 0, 60, 330),
      recoveries: fc.array(instant, { maxLength: 4 }),
    })
    .map((r) => {
      const last = r.failure + r.sinceFailureHours * 3_600_000;
      const earliest = last + r.gapHours * 3_600_000;
      const f: RetryFeatures = {
        declineCode: r.code,
        retryNumber: r.retryNumber,
        attemptsLeft: r.attemptsLeft,
        minHoursBetweenRetries: 12,
        firstFailureAt: new Date(r.failure).toISOString(),
        lastAttemptAt: new Date(last).toISOString(),
        window: { earliest: new Date(earliest).toISOString(), latest: new Date(earliest + r.windowHours * 3_600_000).toISOString() },
        amount: r.amount,
        gateway: r.gateway,
        cardType: r.cardType,
        utcOffsetMinutes: r.offset,
        customerHistory: r.recoveries.map((t) => ({ at: new Date(t).toISOString(), succeeded: true, trigger: 'automatic' as const })),
      };
      return { features: f, now: new Date(last).toISOString() };
    });

  const trained = trainRetryModel(
    Array.from({ length: 60 }, (_, i) => [
      attempt({ invoiceId: `in_${i}`, customerId: `cus_${i % 7}`, at: new Date(Date.parse('2031-03-01T09:00:00Z') + i * 37 * 3_600_000).toISOString(), trigger: 'initial', retryNumber: 0 }),
      attempt({
        invoiceId: `in_${i}`,
        customerId: `cus_${i % 7}`,
        at: new Date(Date.parse('2031-03-01T09:00:00Z') + i * 37 * 3_600_000 + (1 + (i % 5)) * DAY_MS).toISOString(),
        succeeded: i % 3 === 0,
        declineCode: i % 3 === 0 ? null : 'insufficient_funds',
      }),
    ]).flat(),
  );

  it('property: the chosen time is after now, inside the window, among the plan, and deterministic', () => {
    fc.assert(
      fc.property(arbitraryFeatures, fc.boolean(), ({ features: f, now }, useTrained) => {
        const model = useTrained ? trained : emptyRetryModel();
        const d = chooseRetryTime(model, f, now);
        const at = Date.parse(d.at);
        expect(at).toBeGreaterThan(Date.parse(now));
        expect(at).toBeGreaterThanOrEqual(Date.parse(f.window.earliest));
        expect(at).toBeLessThanOrEqual(Date.parse(f.window.latest));
        expect(d.score).toBeGreaterThan(0);
        expect(d.score).toBeLessThan(1);
        expect(d.reason.length).toBeGreaterThan(0);
        if (d.plan.length > 0) expect(d.plan[0]).toBe(d.at);
        expect(d.plan.length).toBeLessThanOrEqual(f.attemptsLeft);
        for (let i = 1; i < d.plan.length; i++) expect(Date.parse(d.plan[i]!) - Date.parse(d.plan[i - 1]!)).toBeGreaterThanOrEqual(12 * 3_600_000);
        // Same inputs, same answer (also through a JSON round trip of the model and features).
        expect(chooseRetryTime(parseRetryModel(serializeRetryModel(model)), JSON.parse(JSON.stringify(f)) as RetryFeatures, now)).toEqual(d);
      }),
      { numRuns: 150 },
    );
  });

  it('property: the order of the history does not change the model', () => {
    const history = [...Array(30).keys()].flatMap((i) => [
      attempt({ invoiceId: `in_${i}`, at: new Date(Date.parse('2031-05-01T00:00:00Z') + i * 50 * 3_600_000).toISOString(), trigger: 'initial', retryNumber: 0 }),
      attempt({ invoiceId: `in_${i}`, at: new Date(Date.parse('2031-05-02T07:00:00Z') + i * 50 * 3_600_000).toISOString(), succeeded: i % 2 === 0, declineCode: i % 2 === 0 ? null : 'do_not_honor' }),
    ]);
    const reference = trainRetryModel(history);
    fc.assert(
      fc.property(fc.shuffledSubarray(history, { minLength: history.length, maxLength: history.length }), (shuffled) => {
        expect(trainRetryModel(shuffled)).toEqual(reference);
      }),
      { numRuns: 30 },
    );
  });
});
