// The smart-retry decision activity against real PostgreSQL: learned from the payment attempts
// the db functions record, stored with its reason, the same answer for the same history.
//
// The model learns from every settled attempt in the database, and other suites charge invoices
// in the test database at the same time, so this file works in a schema of its own (migrated
// here, emptied before each test): every figure below depends only on the rows the test writes.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { sql } from 'slonik';
import { z } from 'zod';
import { createLearnedRetryModel, createRetryDecisionActivities, retryDecisionId, type DecideRetryTimeInput } from '../../activities/retry-decisions';
import { recordIssuedInvoice } from '../../db/invoices';
import { recordAttemptOutcome, recordAttemptStarted } from '../../db/payments';
import { createDatabasePool, type DatabasePool } from '../../db/pool';
import { loadSettledAttempts } from '../../db/retry-history';
import { DEFAULT_DUNNING_POLICY, retryRequest } from '../../domain/dunning';
import { chooseRetryTime, emptyRetryModel, trainRetryModel } from '../../domain/retry-model';
import type { GatewayName } from '../../gateways/gateway';
import { createTestCustomer, requiredEnv, testPool } from '../support/environment';

const ROOT = resolve(__dirname, '../..');
const HOUR_MS = 3_600_000;
const SCHEMA = `retry_decisions_${randomUUID().replace(/-/g, '').slice(0, 12)}`;

let admin: DatabasePool;
let pool: DatabasePool;

beforeAll(async () => {
  admin = await testPool();
  const migrate = spawnSync(
    resolve(ROOT, 'node_modules/.bin/node-pg-migrate'),
    ['up', '--migrations-dir', 'db/migrations', '--migrations-table', 'pgmigrations', '--schema', SCHEMA, '--create-schema', '--no-check-order'],
    { cwd: ROOT, encoding: 'utf8', env: { ...process.env, DATABASE_URL: requiredEnv('DATABASE_URL') } },
  );
  if (migrate.status !== 0) throw new Error(`migrating ${SCHEMA} failed:\n${migrate.stdout}\n${migrate.stderr}`);
  const url = new URL(requiredEnv('DATABASE_URL'));
  url.searchParams.set('options', `-c search_path=${SCHEMA}`);
  pool = await createDatabasePool(url.toString(), { maximumPoolSize: 4 });
});

afterAll(async () => {
  await pool?.end();
  await admin?.query(sql.unsafe`DROP SCHEMA IF EXISTS ${sql.identifier([SCHEMA])} CASCADE`);
  await admin?.end();
});

beforeEach(async () => {
  // Everything that hangs off customers (invoices, attempts, ledger, ...) goes with them.
  await pool.query(sql.unsafe`TRUNCATE customers, retry_decisions CASCADE`);
});

// --- recording history through the db functions --------------------------------------------

async function customerAt(utcOffsetMinutes: number): Promise<string> {
  const id = await createTestCustomer(pool, 'Ada Lovelace');
  await pool.query(sql.unsafe`UPDATE customers SET utc_offset_minutes = ${utcOffsetMinutes} WHERE id = ${id}`);
  return id;
}

async function issueInvoice(customerId: string, issuedAt: string, amount = 9_700): Promise<string> {
  const id = `in_rd${randomUUID().replace(/-/g, '').slice(0, 16)}`;
  await recordIssuedInvoice(pool, {
    id,
    customerId,
    subscriptionId: null,
    currency: 'USD',
    lines: [{ description: 'Community Access (monthly)', periodStart: issuedAt, periodEnd: null, quantity: 1, unitAmount: amount, amount }],
    subtotal: amount,
    total: amount,
    issuedAt,
    dueAt: issuedAt,
    periodStart: issuedAt,
    periodEnd: null,
  });
  return id;
}

interface AttemptFacts {
  readonly attempt: number;
  readonly at: string;
  readonly trigger: 'initial' | 'automatic' | 'new_payment_method';
  readonly retryNumber: number;
  /** A decline code, 'succeeded', or 'pending' (no outcome yet). */
  readonly outcome: string;
  readonly gateway?: GatewayName;
  /** Defaults to the charge activity's `<invoice>:attempt-<n>`. */
  readonly key?: string;
  readonly retryReason?: string;
}

async function recordAttempt(invoiceId: string, a: AttemptFacts): Promise<void> {
  const gateway = a.gateway ?? 'stripe';
  const key = a.key ?? `${invoiceId}:attempt-${a.attempt}`;
  await recordAttemptStarted(pool, {
    idempotencyKey: key,
    invoiceId,
    attempt: a.attempt,
    gateway,
    amount: 9_700,
    currency: 'USD',
    paymentMethodToken: gateway === 'stripe' ? 'pm_card_visa' : 'pp_vault_success_1',
    trigger: a.trigger,
    retryNumber: a.retryNumber,
    retryReason: a.retryReason ?? null,
    attemptedAt: a.at,
  });
  if (a.outcome === 'pending') return;
  await recordAttemptOutcome(
    pool,
    key,
    a.outcome === 'succeeded'
      ? { status: 'succeeded', gateway, reference: `ref_${key}` }
      : a.outcome === 'gateway_error'
        ? { status: 'gateway_error', gateway, ambiguous: false, message: 'HTTP 500' }
        : { status: 'declined', gateway, declineCode: a.outcome, message: a.outcome },
    120,
  );
}

/** A renewal that failed with insufficient funds at `failedAt`, and what dunning asks the model. */
async function failedRenewal(customerId: string, failedAt: string): Promise<DecideRetryTimeInput> {
  const invoiceId = await issueInvoice(customerId, failedAt);
  await recordAttempt(invoiceId, { attempt: 1, at: failedAt, trigger: 'initial', retryNumber: 0, outcome: 'insufficient_funds' });
  const request = retryRequest(DEFAULT_DUNNING_POLICY, null, {
    kind: 'charge_failed',
    invoiceId,
    at: failedAt,
    declineCode: 'insufficient_funds',
    trigger: 'initial',
  });
  if (!request) throw new Error('a soft decline under the smart policy asks the model');
  return { request, invoiceId, customerId, amount: 9_700, gateway: 'stripe', paymentMethodToken: 'pm_card_visa', now: failedAt };
}

/** A local wall-clock time of a customer `utcOffsetMinutes` from UTC, as a UTC instant. */
function localTime(date: string, hour: number, utcOffsetMinutes: number): string {
  return new Date(Date.parse(`${date}T00:00:00.000Z`) + hour * HOUR_MS - utcOffsetMinutes * 60_000).toISOString();
}

/**
 * Six months in which a UTC-5 customer's renewal failed (insufficient funds, 10:00 local) and
 * was paid by the automatic retry on the 1st at 09:00 local; the retries before it, on other days
 * and at other hours, failed. The successful retry is sometimes the first, sometimes the second
 * or third, so the day, not the retry number, is what tells success apart.
 */
const PAID_ON_THE_FIRST: readonly (readonly [failed: string, retries: readonly (readonly [day: string, hour: number])[]])[] = [
  ['2031-10-29', [['2031-10-31', 13], ['2031-11-01', 9]]],
  ['2031-11-28', [['2031-12-01', 9]]],
  ['2031-12-26', [['2031-12-29', 9], ['2031-12-31', 15], ['2032-01-01', 9]]],
  ['2032-01-27', [['2032-01-29', 9], ['2032-02-01', 9]]],
  ['2032-02-28', [['2032-03-01', 9]]],
  ['2032-03-26', [['2032-03-28', 17], ['2032-03-30', 9], ['2032-04-01', 9]]],
];

async function recordPaidOnTheFirst(customerId: string, utcOffsetMinutes: number): Promise<void> {
  for (const [failed, retries] of PAID_ON_THE_FIRST) {
    const invoiceId = await issueInvoice(customerId, localTime(failed, 10, utcOffsetMinutes));
    await recordAttempt(invoiceId, { attempt: 1, at: localTime(failed, 10, utcOffsetMinutes), trigger: 'initial', retryNumber: 0, outcome: 'insufficient_funds' });
    for (const [i, [day, hour]] of retries.entries()) {
      const last = i === retries.length - 1;
      await recordAttempt(invoiceId, {
        attempt: i + 2,
        at: localTime(day, hour, utcOffsetMinutes),
        trigger: 'automatic',
        retryNumber: i + 1,
        outcome: last ? 'succeeded' : 'insufficient_funds',
      });
    }
  }
}

const storedDecisionRow = z.object({
  id: z.string(),
  invoice_id: z.string(),
  customer_id: z.string(),
  retry_number: z.number(),
  decided_at: z.string(),
  chosen_at: z.string(),
  score: z.string(),
  reason: z.string(),
  plan: z.array(z.string()),
  model_retries_counted: z.number(),
  features: z.record(z.unknown()),
});

async function storedDecisions(invoiceId: string) {
  return pool.any(sql.type(storedDecisionRow)`
    SELECT id, invoice_id, customer_id, retry_number, decided_at, chosen_at, score, reason, plan, model_retries_counted, features
    FROM retry_decisions WHERE invoice_id = ${invoiceId} ORDER BY id`);
}

// --- the tests -----------------------------------------------------------------------------

describe('smart-retry decision activity', () => {
  it('cold start: the prior alone picks the payday morning, and the decision is stored with its reason', async () => {
    const customerId = await customerAt(0);
    // Thursday 2032-03-25 15:00 UTC: the renewal fails. The window is 12 h later .. 14 days later.
    const input = await failedRenewal(customerId, '2032-03-25T15:00:00.000Z');
    expect(input.request.window).toEqual({ earliest: '2032-03-26T03:00:00.000Z', latest: '2032-04-08T15:00:00.000Z' });

    const decision = await createRetryDecisionActivities({ pool }).decideRetryTime(input);

    // No automatic retry has ever been recorded, so every term is the prior's odds multiplier.
    // Wednesday 2032-03-31 is March's last business day, a common payday. At 06:00 UTC (the
    // customer's local time) the multipliers are: payday 1.4, a payday since the failure 1.5,
    // 06-09 local 1.1, first retry 1.15, 5.6 days after the failure (4-7 d since the last
    // attempt) 1.15, amount $20-100 1.1, Wednesday 1.0, 3-7 days since the first failure 1.0,
    // card type unknown 1.0 -> x3.36047. Prior odds of insufficient funds 0.15 / 0.85 = 0.176471
    // -> 0.593025 -> p = 0.593025 / 1.593025 = 0.3723. 09:00 scores the same but comes later;
    // 00:00 is night (x0.85, 31.4%). The days before the 31st have had no payday since the
    // failure (x0.75 instead of x1.5) and are 7+ days past the 15th (x0.75 instead of x1.4): at
    // best 13.7% (Tuesday 06:00). So the plan starts on the payday and tries the next two
    // mornings: Thursday the 1st (a payday again) and Friday the 2nd.
    expect(decision).toEqual({
      at: '2032-03-31T06:00:00.000Z',
      score: 0.3723,
      plan: ['2032-03-31T06:00:00.000Z', '2032-04-01T06:00:00.000Z', '2032-04-02T06:00:00.000Z'],
      reason:
        'retry Wed 2032-03-31 06:00 UTC: estimated 37.2% success after insufficient_funds (insufficient_funds; base 15.0% from prior + 0 past retries); ' +
        'main factors: a payday has passed since the last attempt (odds x1.50), on a common payday (1st, 15th or last business day) (odds x1.40), ' +
        'first retry (odds x1.15), 4-7 days after the last attempt (odds x1.15); ' +
        'plan of 3 attempts (Wed 2032-03-31 06:00, Thu 2032-04-01 06:00, Fri 2032-04-02 06:00 UTC) recovers an estimated 64.3%',
    });

    const rows = await storedDecisions(input.invoiceId);
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    expect(row).toMatchObject({
      id: `${input.invoiceId}:retry-1:after-2032-03-25T15:00:00.000Z`,
      customer_id: customerId,
      retry_number: 1,
      decided_at: '2032-03-25T15:00:00.000Z',
      chosen_at: '2032-03-31T06:00:00.000Z',
      score: '0.3723',
      reason: decision.reason,
      plan: decision.plan,
      model_retries_counted: 0,
    });
    expect(row.id).toBe(retryDecisionId(input.invoiceId, input.request));
    // What the model saw: the request, the customer's context; its own history was only the
    // failure itself, which is not before `now`.
    expect(row.features).toMatchObject({ declineCode: 'insufficient_funds', cardType: 'unknown', utcOffsetMinutes: 0, amount: 9_700, customerHistory: [] });

    // The retry the workflow then makes carries the same reason.
    await recordAttempt(input.invoiceId, { attempt: 2, at: decision.at, trigger: 'automatic', retryNumber: 1, outcome: 'pending', retryReason: decision.reason });
    const attempt = await pool.one(sql.type(z.object({ retry_reason: z.string().nullable(), trigger: z.string().nullable(), retry_number: z.number().nullable(), attempted_at: z.string().nullable() }))`
      SELECT retry_reason, trigger, retry_number, attempted_at FROM payment_attempts WHERE idempotency_key = ${`${input.invoiceId}:attempt-2`}`);
    expect(attempt).toEqual({ retry_reason: decision.reason, trigger: 'automatic', retry_number: 1, attempted_at: '2032-03-31T06:00:00.000Z' });
  });

  it('a customer who always paid on the 1st at 09:00 local is retried then', async () => {
    const offset = -300; // UTC-5
    const customerId = await customerAt(offset);
    await recordPaidOnTheFirst(customerId, offset);
    // Sunday 2032-06-27, 10:00 local: this month's renewal fails.
    const input = await failedRenewal(customerId, localTime('2032-06-27', 10, offset));

    const decision = await createRetryDecisionActivities({ pool }).decideRetryTime(input);

    // Without the history the prior would pick Wednesday 06-30 at 06:00 local (June's last
    // business day; 06:00 and 09:00 local score alike and earlier wins), as the cold start did.
    const withoutHistory = chooseRetryTime(emptyRetryModel(), { ...input.request, amount: 9_700, gateway: 'stripe', cardType: 'unknown', utcOffsetMinutes: offset, customerHistory: [] }, input.now);
    expect(withoutHistory.at).toBe('2032-06-30T11:00:00.000Z');
    // With it: Thursday 07-01 at 09:00 local = 14:00 UTC. The 12 automatic retries (6 paid, all
    // on the 1st at 09:00 local) taught the model, and this customer's recoveries all fell on the
    // 1st. The 'within a day of the day this customer paid' bucket held 6 retries, 5 paid (the
    // 1sts of Dec..Apr; Dec 31 failed; the first month had no history yet): smoothed with 20
    // pseudo-retries at its prior rate 0.2093 (odds 0.17647 x 1.5) it is (5 + 4.186) / 26 =
    // 0.3533 against the base (6 + 20 x 0.15) / 32 = 0.28125: odds x(0.3533/0.6467)/(0.28125/
    // 0.71875) = x1.40. The 30th is 2 days from the 1st by day of month (not 'within a day'), and
    // retries at 09:00 local were the only ones ever paid.
    expect(decision.at).toBe('2032-07-01T14:00:00.000Z');
    expect(decision.plan[0]).toBe('2032-07-01T14:00:00.000Z');
    expect(decision.reason).toContain('within a day of the day of month this customer paid after earlier declines (odds x1.40)');
    expect(decision.reason).toContain('(insufficient_funds; base 28.1% from prior + 12 past retries)');

    const [row] = await storedDecisions(input.invoiceId);
    expect(row).toMatchObject({ chosen_at: '2032-07-01T14:00:00.000Z', reason: decision.reason, model_retries_counted: 12, decided_at: '2032-06-27T15:00:00.000Z' });
    expect((row!.features.customerHistory as unknown[]).length).toBe(6 + 12); // 6 first charges, 12 retries
  });

  it('the same history and request give the identical decision in two fresh workers', async () => {
    const offset = -300;
    const customerId = await customerAt(offset);
    await recordPaidOnTheFirst(customerId, offset);
    const input = await failedRenewal(customerId, localTime('2032-06-27', 10, offset));

    const first = await createRetryDecisionActivities({ pool }).decideRetryTime(input);
    // Forget the stored decision so the second worker has to decide for itself.
    await pool.query(sql.unsafe`DELETE FROM retry_decisions WHERE invoice_id = ${input.invoiceId}`);
    const second = await createRetryDecisionActivities({ pool }).decideRetryTime(input);

    expect(second).toEqual(first);
    expect(second.at).toBe('2032-07-01T14:00:00.000Z');
  });

  it('asked again, even after new outcomes changed the model, it returns the stored decision', async () => {
    const customerId = await customerAt(0);
    const input = await failedRenewal(customerId, '2032-03-25T15:00:00.000Z');
    const worker = createRetryDecisionActivities({ pool });
    const decided = await worker.decideRetryTime(input);
    expect(decided.at).toBe('2032-03-31T06:00:00.000Z');

    // Another customer's retries now settle: ten first retries, all paid on a Monday at midnight.
    const other = await customerAt(0);
    for (let i = 0; i < 10; i++) {
      const failedAt = new Date(Date.parse('2031-06-06T15:00:00.000Z') + i * 7 * 24 * HOUR_MS).toISOString(); // Fridays
      const invoiceId = await issueInvoice(other, failedAt);
      await recordAttempt(invoiceId, { attempt: 1, at: failedAt, trigger: 'initial', retryNumber: 0, outcome: 'insufficient_funds' });
      await recordAttempt(invoiceId, { attempt: 2, at: new Date(Date.parse(failedAt) + 57 * HOUR_MS).toISOString(), trigger: 'automatic', retryNumber: 1, outcome: 'succeeded' });
    }

    // The activity retried (same worker) and another worker: the stored answer, not a new one.
    expect(await worker.decideRetryTime(input)).toEqual(decided);
    expect(await createRetryDecisionActivities({ pool }).decideRetryTime(input)).toEqual(decided);
    expect(await storedDecisions(input.invoiceId)).toHaveLength(1);

    // The same failure on another invoice is decided anew, by the changed model.
    const fresh = await failedRenewal(customerId, '2032-03-25T15:00:00.000Z');
    const redecided = await worker.decideRetryTime(fresh);
    expect(redecided).not.toEqual(decided);
    expect((await storedDecisions(fresh.invoiceId))[0]!.model_retries_counted).toBe(10);
  });

  it('learns as outcomes arrive: retries counted grow by exactly the new automatic retries', async () => {
    const customerId = await customerAt(0);
    await recordPaidOnTheFirst(customerId, 0);
    const worker = createRetryDecisionActivities({ pool });
    const learned = createLearnedRetryModel({ pool });
    // The worker decides once: its model now holds the 12 retries of the history.
    await worker.decideRetryTime(await failedRenewal(customerId, '2032-06-25T15:00:00.000Z'));
    expect((await learned.current()).retriesCounted).toBe(12);

    const later = await customerAt(0);
    const invoiceId = await issueInvoice(later, '2032-07-05T15:00:00.000Z');
    await recordAttempt(invoiceId, { attempt: 1, at: '2032-07-05T15:00:00.000Z', trigger: 'initial', retryNumber: 0, outcome: 'do_not_honor' }); // not a retry
    await recordAttempt(invoiceId, { attempt: 2, at: '2032-07-07T09:00:00.000Z', trigger: 'automatic', retryNumber: 1, outcome: 'do_not_honor' }); // +1
    // One attempt, two rows: Stripe's 500 then PayPal's success (failover) -> one retry, +1.
    await recordAttempt(invoiceId, { attempt: 3, at: '2032-07-09T09:00:00.000Z', trigger: 'automatic', retryNumber: 2, outcome: 'gateway_error' });
    await recordAttempt(invoiceId, { attempt: 3, at: '2032-07-09T09:00:00.000Z', trigger: 'automatic', retryNumber: 2, outcome: 'succeeded', gateway: 'paypal', key: `${invoiceId}:attempt-3:paypal` });
    const second = await issueInvoice(later, '2032-08-05T15:00:00.000Z');
    await recordAttempt(second, { attempt: 1, at: '2032-08-05T15:00:00.000Z', trigger: 'initial', retryNumber: 0, outcome: 'lost_card' });
    await recordAttempt(second, { attempt: 2, at: '2032-08-06T10:00:00.000Z', trigger: 'new_payment_method', retryNumber: 0, outcome: 'insufficient_funds' }); // not a retry
    await recordAttempt(second, { attempt: 3, at: '2032-08-08T09:00:00.000Z', trigger: 'automatic', retryNumber: 1, outcome: 'pending' }); // no outcome yet

    await worker.decideRetryTime(await failedRenewal(customerId, '2032-08-25T15:00:00.000Z'));
    const counted = (await pool.manyFirst(sql.type(z.object({ model_retries_counted: z.number() }))`
      SELECT model_retries_counted FROM retry_decisions ORDER BY decided_at`)) as number[];
    expect(counted).toEqual([12, 14]);
    const model = await learned.current();
    expect(model.retriesCounted).toBe(14);

    // The pending retry settles: one more.
    await recordAttemptOutcome(pool, `${second}:attempt-3`, { status: 'succeeded', gateway: 'stripe', reference: 'ref_late' }, 90);
    const updated = await learned.current();
    expect(updated.retriesCounted).toBe(15);
    // Learning batch by batch gave what training on the whole history at once gives.
    expect(updated).toEqual(trainRetryModel((await loadSettledAttempts(pool)).attempts.map((a) => a.record)));
  });
});
