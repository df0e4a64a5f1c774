import fc from 'fast-check';
import { emptyLearnedHistory, learnFromAttempts, retryDecisionId } from '../../activities/retry-decisions';
import type { SettledAttempt } from '../../db/retry-history';
import { trainRetryModel, type PaymentAttemptRecord } from '../../domain/retry-model';

function settled(key: string, overrides: Partial<PaymentAttemptRecord> & Pick<PaymentAttemptRecord, 'invoiceId' | 'at'>): SettledAttempt {
  return {
    key,
    record: {
      customerId: 'cus_1',
      succeeded: false,
      declineCode: 'insufficient_funds',
      trigger: 'automatic',
      retryNumber: 1,
      amount: 9_700,
      gateway: 'stripe',
      cardType: 'unknown',
      utcOffsetMinutes: 0,
      ...overrides,
    },
  };
}

// Customer 1: a failure on the 13th, recovered on the 15th; next month a retry on the 15th fails.
const january = [
  settled('in_1#1', { invoiceId: 'in_1', at: '2032-01-13T20:00:00.000Z', trigger: 'initial', retryNumber: 0 }),
  settled('in_1#2', { invoiceId: 'in_1', at: '2032-01-15T06:00:00.000Z', succeeded: true, declineCode: null }),
];
const february = [
  settled('in_2#1', { invoiceId: 'in_2', at: '2032-02-13T20:00:00.000Z', trigger: 'initial', retryNumber: 0 }),
  settled('in_2#2', { invoiceId: 'in_2', at: '2032-02-15T09:00:00.000Z' }),
];
// Customer 2, in January.
const other = [
  settled('in_9#1', { invoiceId: 'in_9', customerId: 'cus_2', at: '2032-01-20T10:00:00.000Z', trigger: 'initial', retryNumber: 0, declineCode: 'do_not_honor' }),
  settled('in_9#2', { invoiceId: 'in_9', customerId: 'cus_2', at: '2032-01-22T10:00:00.000Z', declineCode: 'do_not_honor' }),
];
const records = (attempts: readonly SettledAttempt[]) => attempts.map((a) => a.record);

describe('learning from settled attempts as they arrive', () => {
  it('counts only the newcomers when they come after what is known', () => {
    const first = learnFromAttempts(emptyLearnedHistory(), january);
    expect(first.retrained).toBe(false);
    expect(first.history.model.retriesCounted).toBe(1);
    const second = learnFromAttempts(first.history, february);
    expect(second.retrained).toBe(false);
    expect(second.history.model.retriesCounted).toBe(2);
    expect(second.history.model).toEqual(trainRetryModel(records([...january, ...february])));
  });

  it('skips attempts it already knows (an incremental read looks back)', () => {
    const known = learnFromAttempts(emptyLearnedHistory(), january).history;
    const again = learnFromAttempts(known, january);
    expect(again.retrained).toBe(false);
    expect(again.history).toBe(known);
  });

  it("an earlier attempt of another customer is counted alone: it changes nobody's context", () => {
    const known = learnFromAttempts(emptyLearnedHistory(), [...january, ...february]).history;
    const late = learnFromAttempts(known, other);
    expect(late.retrained).toBe(false);
    expect(late.history.model).toEqual(trainRetryModel(records([...january, ...february, ...other])));
  });

  it("an earlier attempt of a known customer means learning again: it was context for the customer's later ones", () => {
    // January's recovery on the 15th made February's retry on the 15th 'near' the customer's
    // recovery day; counted after February, it would have been counted as 'no_history'.
    const known = learnFromAttempts(emptyLearnedHistory(), february).history;
    const late = learnFromAttempts(known, january);
    expect(late.retrained).toBe(true);
    const expected = trainRetryModel(records([...january, ...february]));
    expect(late.history.model).toEqual(expected);
    expect(expected.counts.insufficient_funds.factors.customer_day.near).toEqual({ successes: 0, trials: 1 });
  });

  it('an attempt whose outcome changed (a retried activity settled it differently) means learning again', () => {
    const known = learnFromAttempts(emptyLearnedHistory(), [...january, ...february]).history;
    const paid = settled('in_2#2', { invoiceId: 'in_2', at: '2032-02-15T09:00:00.000Z', succeeded: true, declineCode: null });
    const changed = learnFromAttempts(known, [paid]);
    expect(changed.retrained).toBe(true);
    expect(changed.history.model).toEqual(trainRetryModel(records([...january, february[0]!, paid])));
    expect(changed.history.model.counts.insufficient_funds.base).toEqual({ successes: 2, trials: 2 });
  });

  it('property: whatever the arrival order and batches, the model is the one trained on everything', () => {
    const history = [...Array(12).keys()].flatMap((i) => {
      const customerId = `cus_${i % 3}`;
      const start = Date.parse('2031-05-01T00:00:00Z') + i * 61 * 3_600_000;
      return [
        settled(`in_${i}#1`, { invoiceId: `in_${i}`, customerId, at: new Date(start).toISOString(), trigger: 'initial', retryNumber: 0 }),
        settled(`in_${i}#2`, { invoiceId: `in_${i}`, customerId, at: new Date(start + 30 * 3_600_000).toISOString(), succeeded: i % 2 === 0, declineCode: i % 2 === 0 ? null : 'insufficient_funds' }),
      ];
    });
    const expected = trainRetryModel(records(history));
    fc.assert(
      fc.property(
        fc.shuffledSubarray(history, { minLength: history.length, maxLength: history.length }),
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 24, maxLength: 24 }),
        (arrival, sizes) => {
          let learned = emptyLearnedHistory();
          for (let i = 0, b = 0; i < arrival.length; i += sizes[b++]!) learned = learnFromAttempts(learned, arrival.slice(i, i + sizes[b]!)).history;
          expect(learned.model).toEqual(expected);
        },
      ),
      { numRuns: 60 },
    );
  });
});

describe('retry decision id', () => {
  it('names the failure answered: the same retry number after a later failed attempt is another decision', () => {
    expect(retryDecisionId('in_1', { retryNumber: 1, lastAttemptAt: '2032-01-13T20:00:00.000Z' })).toBe('in_1:retry-1:after-2032-01-13T20:00:00.000Z');
    // A new payment method's charge failed on the 14th: still retry 1 (it used no budget).
    expect(retryDecisionId('in_1', { retryNumber: 1, lastAttemptAt: '2032-01-14T09:00:00.000Z' })).not.toBe(
      retryDecisionId('in_1', { retryNumber: 1, lastAttemptAt: '2032-01-13T20:00:00.000Z' }),
    );
  });
});
