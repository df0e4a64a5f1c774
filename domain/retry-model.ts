// When to retry a soft-declined payment: a small, explainable model learned from the project's
// own payment attempts.
//
// Estimating. A naive-Bayes-style log-odds model, one per decline group (insufficient funds,
// issuer declines, temporary errors, ...). For each group it counts automatic retries and their
// successes, in total and per bucket of each factor (distance to the common paydays, weekday,
// local hour, the customer's own recovery days, retry number, ...). Every count is smoothed
// towards a hand-set prior (a Beta prior worth `priorStrength` pseudo-attempts), so a cold start
// behaves sensibly and a bucket with little data stays close to what we believe. A slot's
// estimated success probability is
//
//   logit p = logit(base rate of the group) + sum over factors (logit(rate of the slot's bucket) - logit(base rate))
//
// and each factor's term, read as an odds multiplier, is the explanation stored with the attempt.
// Factors are not independent (the retry number and the time since the first failure move
// together), so p ranks slots well and is only roughly calibrated.
//
// Choosing. Picking the single best slot of the window would often spend the whole window on one
// shot (a payday twelve days out) and leave no room for another. So the model plans: it builds,
// greedily, the set of remaining attempts (within the budget, spaced by the policy's minimum gap)
// that maximizes the expected discounted recovery minus the expected cost of the attempts,
//
//   sum over planned attempts i of P(all earlier ones failed) * (dailyDiscount^days_i * p_i - attemptCost)
//
// (attemptCost = the params' attemptCostMinorUnits / amount) where each p_i takes into account whether a payday came since the previous planned attempt, and
// its retry number. The earliest attempt of the plan is the one chosen now; after it fails, the
// next call plans again with what changed. An empty plan (no attempt worth its cost) is reported,
// and the dunning policy asks the customer instead of retrying.
//
// Candidates are the starts of the local hour buckets on each day of the window (the model cannot
// tell two hours of the same bucket apart, and earlier is better), plus the window's first instant.
// Pure and deterministic: the same model, features and `now` give the same slot and reason (ties
// go to the earlier slot). The decision is still made in an activity (it needs the history from
// the database) and recorded in workflow history, so a replay never decides again.
import { DAY_MS } from './calendar';
import { classifyDecline, type DeclineClassification } from './declines';

const HOUR_MS = 3_600_000;

export type CardType = 'credit' | 'debit' | 'prepaid' | 'unknown';

/** What the model keeps apart: each soft decline group, and the other classes as a whole. */
export const MODEL_KEYS = [
  'insufficient_funds',
  'issuer_decline',
  'temporary_error',
  'limit_exceeded',
  'merchant_issue',
  'action_required',
  'expired',
  'hard',
] as const;
export type ModelKey = (typeof MODEL_KEYS)[number];

export function modelKeyOf(classification: DeclineClassification): ModelKey {
  if (classification.declineClass !== 'soft') return classification.declineClass;
  return (MODEL_KEYS as readonly string[]).includes(classification.group) ? (classification.group as ModelKey) : 'issuer_decline';
}

export const RETRY_FACTORS = [
  'payday',
  'fresh_payday',
  'weekday',
  'hour',
  'customer_day',
  'customer_weekday',
  'retry',
  'elapsed',
  'gap',
  'amount',
  'card',
  'gateway',
] as const;
export type RetryFactor = (typeof RETRY_FACTORS)[number];

export const FACTOR_BUCKETS: { readonly [F in RetryFactor]: readonly string[] } = {
  // Days since the most recent common payday (1st, 15th, last business day; a 1st or 15th that
  // falls on a weekend is paid the business day before), in the customer's local calendar.
  payday: ['payday', 'after_1_2', 'after_3_6', 'after_7_plus'],
  // Whether a common payday came between the previous attempt and the slot: without new money,
  // retrying what just failed rarely works.
  fresh_payday: ['yes', 'no'],
  weekday: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
  // Local hour: deposits post overnight, spending drains balances through the day.
  hour: ['h00_06', 'h06_09', 'h09_12', 'h12_17', 'h17_21', 'h21_24'],
  // The customer's own history: how far the slot's day of month, and its weekday, are from those
  // on which this customer's earlier failed payments were recovered (a renewal paid on its due
  // date says little about when money arrives; a recovery does).
  customer_day: ['no_history', 'near', 'close', 'far'],
  customer_weekday: ['no_history', 'same', 'adjacent', 'other'],
  retry: ['1', '2', '3', '4', '5_plus'],
  elapsed: ['under_1d', '1_3d', '3_7d', '7_14d', '14d_plus'],
  // Time since the previous attempt: whatever made it fail (no money yet, an issuer's block)
  // tends to persist for a while, so attempts bunched together fail together.
  gap: ['under_1d', '1_2d', '2_4d', '4_7d', '7d_plus'],
  // Amount in major units (all supported currencies have two decimals).
  amount: ['under_20', '20_100', '100_1000', '1000_5000', '5000_plus'],
  card: ['credit', 'debit', 'prepaid', 'unknown'],
  gateway: ['stripe', 'paypal', 'other'],
};

type Multipliers = { readonly [F in RetryFactor]: Readonly<Record<string, number>> };

export interface RetryPrior {
  /** Prior success rate of one automatic retry, per model key. */
  readonly baseRate: Readonly<Record<ModelKey, number>>;
  /** Prior odds multiplier of each factor bucket (1 = no effect), for every key ... */
  readonly oddsMultipliers: Multipliers;
  /** ... unless a key says otherwise for a factor. */
  readonly overrides: { readonly [K in ModelKey]?: Partial<Multipliers> };
}

const FLAT = (factor: RetryFactor): Readonly<Record<string, number>> => Object.fromEntries(FACTOR_BUCKETS[factor].map((b) => [b, 1]));

/**
 * The cold-start belief, hand-set from what the industry publishes about card retries: most
 * soft declines are insufficient funds; funds arrive on paydays (in the US most workers are paid
 * weekly or biweekly, usually on Fridays, the rest on the 1st/15th or at month end) and
 * overnight; a customer tends to have money on the days it had before; every failed retry is
 * evidence the problem persists; temporary errors clear in hours; large amounts and prepaid cards
 * recover less. Deliberately mild (multipliers within 0.7-1.5): data should decide the rest.
 */
export const RETRY_PRIOR: RetryPrior = {
  baseRate: {
    insufficient_funds: 0.15,
    issuer_decline: 0.25,
    temporary_error: 0.6,
    limit_exceeded: 0.15,
    merchant_issue: 0.1,
    action_required: 0.05,
    expired: 0.02,
    hard: 0.01,
  },
  oddsMultipliers: {
    payday: { payday: 1.4, after_1_2: 1.3, after_3_6: 1.0, after_7_plus: 0.75 },
    fresh_payday: { yes: 1.5, no: 0.75 },
    weekday: { sun: 0.9, mon: 1.0, tue: 1.0, wed: 1.0, thu: 1.05, fri: 1.15, sat: 1.05 },
    hour: { h00_06: 0.85, h06_09: 1.1, h09_12: 1.1, h12_17: 1.0, h17_21: 0.95, h21_24: 0.9 },
    customer_day: { no_history: 1.0, near: 1.5, close: 1.15, far: 0.85 },
    customer_weekday: { no_history: 1.0, same: 1.3, adjacent: 1.1, other: 0.9 },
    retry: { '1': 1.15, '2': 1.0, '3': 0.9, '4': 0.8, '5_plus': 0.7 },
    elapsed: { under_1d: 0.9, '1_3d': 1.05, '3_7d': 1.0, '7_14d': 0.9, '14d_plus': 0.8 },
    gap: { under_1d: 0.8, '1_2d': 1.0, '2_4d': 1.1, '4_7d': 1.15, '7d_plus': 1.15 },
    amount: { under_20: 1.2, '20_100': 1.1, '100_1000': 1.0, '1000_5000': 0.85, '5000_plus': 0.75 },
    card: { credit: 1.15, debit: 0.95, prepaid: 0.7, unknown: 1.0 },
    gateway: FLAT('gateway'),
  },
  overrides: {
    // A processing error or an unreachable gateway is about the path, not the customer's money.
    temporary_error: {
      payday: FLAT('payday'),
      fresh_payday: FLAT('fresh_payday'),
      weekday: FLAT('weekday'),
      hour: FLAT('hour'),
      customer_day: FLAT('customer_day'),
      customer_weekday: FLAT('customer_weekday'),
      amount: FLAT('amount'),
      card: FLAT('card'),
      elapsed: { under_1d: 1.3, '1_3d': 1.0, '3_7d': 0.8, '7_14d': 0.7, '14d_plus': 0.6 },
      gap: FLAT('gap'),
    },
    merchant_issue: {
      payday: FLAT('payday'),
      fresh_payday: FLAT('fresh_payday'),
      customer_day: FLAT('customer_day'),
      customer_weekday: FLAT('customer_weekday'),
    },
  },
};

export interface RetryModelParams {
  /** Pseudo-attempts behind every prior rate: how much data it takes to move away from it. */
  readonly priorStrength: number;
  /** Value of a recovery one day later relative to now (1 = indifferent to when). */
  readonly dailyDiscount: number;
  /**
   * What one attempt costs, in minor units (gateway fees, issuers' patience, network retry
   * rules): about the same whatever the amount, while a recovery is worth the amount. An attempt
   * is planned only if the expected recovery it adds is worth more than this, so a large invoice
   * gets more attempts than a small one.
   */
  readonly attemptCostMinorUnits: number;
}

/**
 * The discount and the attempt cost ($10 an attempt) were chosen on the benchmark's validation
 * population, under "no more attempts per recovery than the fixed schedule" (see
 * bench/results/dunning.md); re-choose them on the project's own data once it has some.
 */
export const DEFAULT_RETRY_MODEL_PARAMS: RetryModelParams = { priorStrength: 20, dailyDiscount: 0.95, attemptCostMinorUnits: 1000 };

export interface Tally {
  readonly successes: number;
  readonly trials: number;
}

export interface KeyCounts {
  readonly base: Tally;
  readonly factors: { readonly [F in RetryFactor]: Readonly<Record<string, Tally>> };
}

/** Plain JSON: store it, ship it to the activity, diff it. */
export interface RetryModel {
  readonly version: 1;
  readonly params: RetryModelParams;
  /** Automatic retries counted so far. */
  readonly retriesCounted: number;
  readonly counts: { readonly [K in ModelKey]: KeyCounts };
}

/** One charge attempt as the payments table records it. */
export interface PaymentAttemptRecord {
  readonly customerId: string;
  readonly invoiceId: string;
  readonly at: string;
  readonly succeeded: boolean;
  /** The decline code when it failed, null when it succeeded. */
  readonly declineCode: string | null;
  /** The invoice's first charge, a retry dunning scheduled, or a charge of a newly added method. */
  readonly trigger: 'initial' | 'automatic' | 'new_payment_method';
  /** Automatic retries of the invoice so far, this one included (0 for the first charge). */
  readonly retryNumber: number;
  readonly amount: number; // minor units
  readonly gateway: string;
  readonly cardType: CardType;
  readonly utcOffsetMinutes: number;
}

export type CustomerPayment = Pick<PaymentAttemptRecord, 'at' | 'succeeded' | 'trigger'>;

export interface RetryWindow {
  readonly earliest: string;
  readonly latest: string;
}

export interface RetryFeatures {
  /** The decline the retry answers (the previous attempt's). */
  readonly declineCode: string;
  /** Which automatic retry this is: 1 for the first. */
  readonly retryNumber: number;
  /** Automatic retries the budget still allows, this one included. */
  readonly attemptsLeft: number;
  /** The policy's spacing between attempts, for planning the later ones. */
  readonly minHoursBetweenRetries: number;
  readonly firstFailureAt: string;
  readonly lastAttemptAt: string;
  /** Where the policy allows the retry (see dunning.retryRequest). */
  readonly window: RetryWindow;
  readonly amount: number; // minor units
  readonly gateway: string;
  readonly cardType: CardType;
  /** The customer's offset from UTC, for local weekday, hour and day of month. */
  readonly utcOffsetMinutes: number;
  /** The customer's own earlier payment attempts (any invoice); only those before `now` count. */
  readonly customerHistory: readonly CustomerPayment[];
}

export interface RetryDecision {
  readonly at: string;
  /** Why this time, naming the main factors: stored with the attempt. */
  readonly reason: string;
  /** Estimated success probability of a retry at `at`, 0..1, four decimals. */
  readonly score: number;
  /**
   * The attempts the model plans from here, `at` first; empty when no attempt is worth its cost
   * (then `at` is merely the best slot, and the policy asks the customer instead).
   */
  readonly plan: readonly string[];
}

// ---------------------------------------------------------------------------------------------
// Features of a slot

type Buckets = { [F in RetryFactor]: string };

const WEEKDAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
/** Local hours where the hour buckets start: the candidate times of each day. */
const HOUR_BUCKET_STARTS = [0, 6, 9, 12, 17, 21];

/** Days since the Unix epoch of the customer's local calendar day containing `ms`. */
function localDay(ms: number, offsetMs: number): number {
  return Math.floor((ms + offsetMs) / DAY_MS);
}

function weekdayOfDay(day: number): number {
  return (((day + 4) % 7) + 7) % 7; // 1970-01-01 was a Thursday
}

/** The business day on or before `day` (Saturday and Sunday move back to Friday). */
function businessDayOnOrBefore(day: number): number {
  const w = weekdayOfDay(day);
  return w === 6 ? day - 1 : w === 0 ? day - 2 : day;
}

function paydaysOfMonth(year: number, month0: number): number[] {
  const first = Date.UTC(year, month0, 1) / DAY_MS;
  const last = Date.UTC(year, month0 + 1, 0) / DAY_MS;
  return [businessDayOnOrBefore(first), businessDayOnOrBefore(first + 14), businessDayOnOrBefore(last)];
}

/** Days from the most recent common payday on or before `day` (a day count since the epoch); 0 on a payday. */
export function daysSinceCommonPayday(day: number): number {
  const date = new Date(day * DAY_MS);
  const y = date.getUTCFullYear();
  const m = date.getUTCMonth();
  // The paydays of this month, of the next (its 1st may move back into this month) and of the
  // previous one (for the first days of this month).
  let best = Infinity;
  for (const offset of [-1, 0, 1]) {
    for (const payday of paydaysOfMonth(y, m + offset)) {
      if (payday <= day && day - payday < best) best = day - payday;
    }
  }
  return best;
}

function paydayBucket(days: number): string {
  return days === 0 ? 'payday' : days <= 2 ? 'after_1_2' : days <= 6 ? 'after_3_6' : 'after_7_plus';
}

function hourBucket(hour: number): string {
  return hour < 6 ? 'h00_06' : hour < 9 ? 'h06_09' : hour < 12 ? 'h09_12' : hour < 17 ? 'h12_17' : hour < 21 ? 'h17_21' : 'h21_24';
}

function retryBucket(retryNumber: number): string {
  return retryNumber >= 5 ? '5_plus' : String(Math.max(1, Math.floor(retryNumber)));
}

function elapsedBucket(ms: number): string {
  const days = ms / DAY_MS;
  return days < 1 ? 'under_1d' : days < 3 ? '1_3d' : days < 7 ? '3_7d' : days < 14 ? '7_14d' : '14d_plus';
}

function gapBucket(ms: number): string {
  const days = ms / DAY_MS;
  return days < 1 ? 'under_1d' : days < 2 ? '1_2d' : days < 4 ? '2_4d' : days < 7 ? '4_7d' : '7d_plus';
}

function amountBucket(minor: number): string {
  const major = minor / 100;
  return major < 20 ? 'under_20' : major < 100 ? '20_100' : major < 1000 ? '100_1000' : major < 5000 ? '1000_5000' : '5000_plus';
}

function gatewayBucket(gateway: string): string {
  return gateway === 'stripe' || gateway === 'paypal' ? gateway : 'other';
}

function cardBucket(cardType: string): string {
  return (FACTOR_BUCKETS.card as readonly string[]).includes(cardType) ? cardType : 'unknown';
}

function dayOfMonth(day: number): number {
  return new Date(day * DAY_MS).getUTCDate();
}

function customerDayBucket(slotDay: number, recoveryDays: readonly number[]): string {
  if (recoveryDays.length === 0) return 'no_history';
  const dom = dayOfMonth(slotDay);
  let best = 31;
  for (const day of recoveryDays) {
    const d = Math.abs(dayOfMonth(day) - dom);
    best = Math.min(best, d, 31 - d);
  }
  return best <= 1 ? 'near' : best <= 3 ? 'close' : 'far';
}

function customerWeekdayBucket(slotDay: number, recoveryDays: readonly number[]): string {
  if (recoveryDays.length === 0) return 'no_history';
  const w = weekdayOfDay(slotDay);
  let best = 7;
  for (const day of recoveryDays) {
    const d = Math.abs(weekdayOfDay(day) - w);
    best = Math.min(best, d, 7 - d);
  }
  return best === 0 ? 'same' : best === 1 ? 'adjacent' : 'other';
}

/** Everything about a retry that does not depend on the slot. */
interface RetryContext {
  readonly key: ModelKey;
  readonly classification: DeclineClassification;
  readonly offsetMs: number;
  readonly firstFailureMs: number;
  readonly lastAttemptMs: number;
  readonly lastAttemptDay: number;
  /** Local days on which the customer's earlier declined payments were recovered. */
  readonly recoveryDays: readonly number[];
  readonly fixed: Pick<Buckets, 'retry' | 'amount' | 'card' | 'gateway'>;
}

type ContextInput = Pick<RetryFeatures, 'declineCode' | 'retryNumber' | 'firstFailureAt' | 'lastAttemptAt' | 'amount' | 'gateway' | 'cardType' | 'utcOffsetMinutes'>;

function contextOf(f: ContextInput, recoveries: readonly number[]): RetryContext {
  const classification = classifyDecline(f.declineCode);
  const offsetMs = f.utcOffsetMinutes * 60_000;
  return {
    key: modelKeyOf(classification),
    classification,
    offsetMs,
    firstFailureMs: Date.parse(f.firstFailureAt),
    lastAttemptMs: Date.parse(f.lastAttemptAt),
    lastAttemptDay: localDay(Date.parse(f.lastAttemptAt), offsetMs),
    recoveryDays: recoveries.map((ms) => localDay(ms, offsetMs)),
    fixed: { retry: retryBucket(f.retryNumber), amount: amountBucket(f.amount), card: cardBucket(f.cardType), gateway: gatewayBucket(f.gateway) },
  };
}

/** Successful charges after a decline, before `beforeMs`: when this customer's money showed up. */
function recoveryTimes(history: readonly CustomerPayment[], beforeMs: number): number[] {
  const times: number[] = [];
  for (const p of history) {
    const ms = Date.parse(p.at);
    if (p.succeeded && p.trigger !== 'initial' && ms < beforeMs) times.push(ms);
  }
  return times.sort((a, b) => a - b);
}

function slotBuckets(ctx: RetryContext, ms: number): Buckets {
  const day = localDay(ms, ctx.offsetMs);
  const since = daysSinceCommonPayday(day);
  const hour = Math.floor((ms + ctx.offsetMs - day * DAY_MS) / HOUR_MS);
  return {
    payday: paydayBucket(since),
    fresh_payday: day - since > ctx.lastAttemptDay ? 'yes' : 'no',
    weekday: FACTOR_BUCKETS.weekday[weekdayOfDay(day)]!,
    hour: hourBucket(hour),
    customer_day: customerDayBucket(day, ctx.recoveryDays),
    customer_weekday: customerWeekdayBucket(day, ctx.recoveryDays),
    elapsed: elapsedBucket(ms - ctx.firstFailureMs),
    gap: gapBucket(ms - ctx.lastAttemptMs),
    ...ctx.fixed,
  };
}

// ---------------------------------------------------------------------------------------------
// Counting

type MutableTally = { successes: number; trials: number };
type MutableCounts = { base: MutableTally; factors: Record<RetryFactor, Record<string, MutableTally>> };

function emptyCounts(): Record<ModelKey, MutableCounts> {
  const counts = {} as Record<ModelKey, MutableCounts>;
  for (const key of MODEL_KEYS) {
    const factors = {} as Record<RetryFactor, Record<string, MutableTally>>;
    for (const factor of RETRY_FACTORS) {
      factors[factor] = Object.fromEntries(FACTOR_BUCKETS[factor].map((b) => [b, { successes: 0, trials: 0 }]));
    }
    counts[key] = { base: { successes: 0, trials: 0 }, factors };
  }
  return counts;
}

function copyCounts(model: RetryModel): Record<ModelKey, MutableCounts> {
  const counts = emptyCounts();
  for (const key of MODEL_KEYS) {
    const from = model.counts[key];
    counts[key].base = { ...from.base };
    for (const factor of RETRY_FACTORS) {
      for (const bucket of FACTOR_BUCKETS[factor]) {
        const t = from.factors[factor][bucket];
        if (t) counts[key].factors[factor][bucket] = { ...t };
      }
    }
  }
  return counts;
}

export function emptyRetryModel(params: RetryModelParams = DEFAULT_RETRY_MODEL_PARAMS): RetryModel {
  return { version: 1, params, retriesCounted: 0, counts: emptyCounts() };
}

function byTime(a: PaymentAttemptRecord, b: PaymentAttemptRecord): number {
  const t = Date.parse(a.at) - Date.parse(b.at);
  if (t !== 0) return t;
  if (a.invoiceId !== b.invoiceId) return a.invoiceId < b.invoiceId ? -1 : 1;
  return a.retryNumber - b.retryNumber;
}

/**
 * Adds the automatic retries among `newRecords` to the model's counts. `earlier` holds records
 * already counted (or never to be counted) that the new ones need as context: the invoice's
 * previous attempts and the customer's earlier recoveries. Counts only add, so learning as
 * outcomes arrive is this function, and training on everything at once gives the same model as
 * updating batch after batch. A record must not be in both lists.
 */
export function updateRetryModel(model: RetryModel, newRecords: readonly PaymentAttemptRecord[], earlier: readonly PaymentAttemptRecord[] = []): RetryModel {
  const counts = copyCounts(model);
  const toCount = new Set(newRecords);
  const all = [...earlier, ...newRecords].sort(byTime);
  const previousOfInvoice = new Map<string, PaymentAttemptRecord>();
  const firstFailureOfInvoice = new Map<string, string>();
  const recoveriesOfCustomer = new Map<string, number[]>();
  let counted = 0;
  for (const record of all) {
    const previous = previousOfInvoice.get(record.invoiceId);
    const ms = Date.parse(record.at);
    if (toCount.has(record) && record.trigger === 'automatic' && previous && !previous.succeeded && previous.declineCode !== null) {
      const ctx = contextOf(
        {
          declineCode: previous.declineCode,
          retryNumber: record.retryNumber,
          firstFailureAt: firstFailureOfInvoice.get(record.invoiceId) ?? previous.at,
          lastAttemptAt: previous.at,
          amount: record.amount,
          gateway: record.gateway,
          cardType: record.cardType,
          utcOffsetMinutes: record.utcOffsetMinutes,
        },
        recoveriesOfCustomer.get(record.customerId) ?? [],
      );
      const buckets = slotBuckets(ctx, ms);
      const c = counts[ctx.key];
      const success = record.succeeded ? 1 : 0;
      c.base.successes += success;
      c.base.trials += 1;
      for (const factor of RETRY_FACTORS) {
        const tally = c.factors[factor][buckets[factor]]!;
        tally.successes += success;
        tally.trials += 1;
      }
      counted += 1;
    }
    if (record.succeeded) {
      if (record.trigger !== 'initial') {
        const list = recoveriesOfCustomer.get(record.customerId) ?? [];
        list.push(ms);
        recoveriesOfCustomer.set(record.customerId, list);
      }
      firstFailureOfInvoice.delete(record.invoiceId);
    } else if (!firstFailureOfInvoice.has(record.invoiceId)) {
      firstFailureOfInvoice.set(record.invoiceId, record.at);
    }
    previousOfInvoice.set(record.invoiceId, record);
  }
  return { version: 1, params: model.params, retriesCounted: model.retriesCounted + counted, counts };
}

/** Learns a model from a payment-attempt history (any order) on top of the prior. */
export function trainRetryModel(history: readonly PaymentAttemptRecord[], params: RetryModelParams = DEFAULT_RETRY_MODEL_PARAMS): RetryModel {
  return updateRetryModel(emptyRetryModel(params), history);
}

// ---------------------------------------------------------------------------------------------
// Scoring

function logit(p: number): number {
  return Math.log(p / (1 - p));
}

function sigmoid(x: number): number {
  return 1 / (1 + Math.exp(-x));
}

function clampP(p: number): number {
  return Math.min(0.9999, Math.max(0.0001, p));
}

function priorMultiplier(key: ModelKey, factor: RetryFactor, bucket: string): number {
  return RETRY_PRIOR.overrides[key]?.[factor]?.[bucket] ?? RETRY_PRIOR.oddsMultipliers[factor][bucket] ?? 1;
}

/** Smoothed rate: the data's successes and trials plus `strength` pseudo-attempts at the prior rate. */
function smoothed(tally: Tally | undefined, priorRate: number, strength: number): number {
  const s = tally?.successes ?? 0;
  const n = tally?.trials ?? 0;
  const p = (s + strength * priorRate) / (n + strength);
  return Math.min(1 - 1e-6, Math.max(1e-6, p));
}

interface KeyTable {
  readonly baseLogit: number;
  readonly baseTrials: number;
  /** Log-odds contribution of each factor bucket. */
  readonly terms: { readonly [F in RetryFactor]: Readonly<Record<string, number>> };
}

function keyTable(model: RetryModel, key: ModelKey): KeyTable {
  const strength = model.params.priorStrength;
  const counts = model.counts[key];
  const priorBase = RETRY_PRIOR.baseRate[key];
  const baseLogit = logit(smoothed(counts.base, priorBase, strength));
  const terms = {} as Record<RetryFactor, Record<string, number>>;
  for (const factor of RETRY_FACTORS) {
    terms[factor] = {};
    for (const bucket of FACTOR_BUCKETS[factor]) {
      const priorRate = sigmoid(logit(priorBase) + Math.log(priorMultiplier(key, factor, bucket)));
      terms[factor][bucket] = logit(smoothed(counts.factors[factor][bucket], priorRate, strength)) - baseLogit;
    }
  }
  return { baseLogit, baseTrials: counts.base.trials, terms };
}

function term(table: KeyTable, factor: RetryFactor, bucket: string): number {
  return table.terms[factor][bucket] ?? 0;
}

function scoreOf(table: KeyTable, buckets: Buckets): number {
  let x = table.baseLogit;
  for (const factor of RETRY_FACTORS) x += term(table, factor, buckets[factor]);
  return clampP(sigmoid(x));
}

export interface FactorEffect {
  /** The bucket's smoothed success rate relative to the key's, as an odds multiplier. */
  readonly oddsMultiplier: number;
  /** Retries counted in the bucket (0: the prior alone speaks). */
  readonly trials: number;
}

/** What the model has learned for one key, for dashboards and reports: base rate and each bucket's effect. */
export function factorEffects(
  model: RetryModel,
  key: ModelKey,
): { readonly baseRate: number; readonly trials: number; readonly effects: { readonly [F in RetryFactor]: Readonly<Record<string, FactorEffect>> } } {
  const table = keyTable(model, key);
  const effects = {} as Record<RetryFactor, Record<string, FactorEffect>>;
  for (const factor of RETRY_FACTORS) {
    effects[factor] = {};
    for (const bucket of FACTOR_BUCKETS[factor]) {
      effects[factor][bucket] = { oddsMultiplier: Math.exp(term(table, factor, bucket)), trials: model.counts[key].factors[factor][bucket]?.trials ?? 0 };
    }
  }
  return { baseRate: sigmoid(table.baseLogit), trials: table.baseTrials, effects };
}

type EstimateInput = Omit<RetryFeatures, 'window' | 'attemptsLeft' | 'minHoursBetweenRetries'>;

/** The model's success estimate for a single retry at `at` (no planning): for reports and tests. */
export function estimateRetrySuccess(model: RetryModel, features: EstimateInput, at: string): number {
  const ms = Date.parse(at);
  const ctx = contextOf(features, recoveryTimes(features.customerHistory, ms));
  return scoreOf(keyTable(model, ctx.key), slotBuckets(ctx, ms));
}

/**
 * Candidate slots: the window's first instant after `now`, then the start of every local hour
 * bucket (00, 06, 09, 12, 17, 21 local) in the window. Throws a RangeError when the window holds
 * no instant after `now`.
 */
export function candidateSlots(window: RetryWindow, now: string, utcOffsetMinutes = 0): number[] {
  const start = Math.max(Date.parse(window.earliest), Date.parse(now) + 1);
  const latest = Date.parse(window.latest);
  if (!(start <= latest)) throw new RangeError(`no retry slot between ${window.earliest} and ${window.latest} after ${now}`);
  const offsetMs = utcOffsetMinutes * 60_000;
  const slots = [start];
  for (let day = localDay(start, offsetMs); day * DAY_MS - offsetMs <= latest; day++) {
    for (const hour of HOUR_BUCKET_STARTS) {
      const t = day * DAY_MS + hour * HOUR_MS - offsetMs;
      if (t > start && t <= latest) slots.push(t);
    }
  }
  return slots;
}

interface Candidate {
  readonly ms: number;
  /** The most recent common payday on or before the slot's day. */
  readonly paydayDay: number;
  /** Log-odds of every term but the ones that depend on the plan (fresh payday, retry number). */
  readonly partial: number;
  readonly discount: number;
}

interface Planner {
  readonly candidates: readonly Candidate[];
  /** Success estimate of candidate `c` as the plan's `index`-th attempt after one at `previousMs`. */
  readonly p: (c: Candidate, previousMs: number, index: number) => number;
}

function planner(model: RetryModel, table: KeyTable, ctx: RetryContext, f: RetryFeatures, nowMs: number): Planner {
  const dayPart = new Map<number, { paydayDay: number; partial: number }>();
  const candidates = candidateSlots(f.window, new Date(nowMs).toISOString(), f.utcOffsetMinutes).map((ms) => {
    const day = localDay(ms, ctx.offsetMs);
    let part = dayPart.get(day);
    if (!part) {
      const since = daysSinceCommonPayday(day);
      part = {
        paydayDay: day - since,
        partial:
          term(table, 'payday', paydayBucket(since)) +
          term(table, 'weekday', FACTOR_BUCKETS.weekday[weekdayOfDay(day)]!) +
          term(table, 'customer_day', customerDayBucket(day, ctx.recoveryDays)) +
          term(table, 'customer_weekday', customerWeekdayBucket(day, ctx.recoveryDays)),
      };
      dayPart.set(day, part);
    }
    const hour = Math.floor((ms + ctx.offsetMs - day * DAY_MS) / HOUR_MS);
    const partial =
      table.baseLogit +
      part.partial +
      term(table, 'hour', hourBucket(hour)) +
      term(table, 'elapsed', elapsedBucket(ms - ctx.firstFailureMs)) +
      term(table, 'amount', ctx.fixed.amount) +
      term(table, 'card', ctx.fixed.card) +
      term(table, 'gateway', ctx.fixed.gateway);
    return { ms, paydayDay: part.paydayDay, partial, discount: model.params.dailyDiscount ** ((ms - nowMs) / DAY_MS) };
  });
  const fresh = { yes: term(table, 'fresh_payday', 'yes'), no: term(table, 'fresh_payday', 'no') };
  const retryTerms = [1, 2, 3, 4, 5].map((n) => term(table, 'retry', retryBucket(n)));
  const gapTerms = new Map(FACTOR_BUCKETS.gap.map((b) => [b, term(table, 'gap', b)]));
  return {
    candidates,
    p: (c, previousMs, index) =>
      clampP(
        sigmoid(
          c.partial +
            (c.paydayDay > localDay(previousMs, ctx.offsetMs) ? fresh.yes : fresh.no) +
            retryTerms[Math.min(4, f.retryNumber + index - 1)]! +
            gapTerms.get(gapBucket(c.ms - previousMs))!,
        ),
      ),
  };
}

/** Expected discounted recovery minus expected attempt cost of a plan (candidate indexes in time order). */
function planValue(pl: Planner, plan: readonly number[], lastAttemptMs: number, cost: number): number {
  let survive = 1;
  let value = 0;
  let previousMs = lastAttemptMs;
  plan.forEach((i, k) => {
    const c = pl.candidates[i]!;
    const p = pl.p(c, previousMs, k);
    value += survive * (c.discount * p - cost);
    survive *= 1 - p;
    previousMs = c.ms;
  });
  return value;
}

/** Greedy plan: add the attempt that raises the plan's value most, while one does. */
function planAttempts(pl: Planner, f: RetryFeatures, lastAttemptMs: number, cost: number): number[] {
  const gap = f.minHoursBetweenRetries * HOUR_MS;
  const maxAttempts = Math.max(0, Math.min(Math.floor(f.attemptsLeft), 12));
  let plan: number[] = [];
  let value = 0;
  while (plan.length < maxAttempts) {
    let best: { plan: number[]; value: number } | null = null;
    for (let i = 0; i < pl.candidates.length; i++) {
      const ms = pl.candidates[i]!.ms;
      if (plan.some((j) => Math.abs(pl.candidates[j]!.ms - ms) < gap || j === i)) continue;
      const trial = [...plan, i].sort((a, b) => a - b);
      const v = planValue(pl, trial, lastAttemptMs, cost);
      if (v > (best?.value ?? value) + 1e-9) best = { plan: trial, value: v };
    }
    if (!best) break;
    plan = best.plan;
    value = best.value;
  }
  return plan;
}

/**
 * Picks the retry time: the first attempt of the best plan for the rest of the budget (see the
 * top of this file). Throws a RangeError when the window holds no instant after `now` (the
 * policy never asks then).
 */
export function chooseRetryTime(model: RetryModel, features: RetryFeatures, now: string): RetryDecision {
  const nowMs = Date.parse(now);
  const ctx = contextOf(features, recoveryTimes(features.customerHistory, nowMs));
  const table = keyTable(model, ctx.key);
  const pl = planner(model, table, ctx, features, nowMs);
  const cost = Math.min(0.5, model.params.attemptCostMinorUnits / Math.max(1, features.amount));
  const plan = planAttempts(pl, features, ctx.lastAttemptMs, cost);
  let chosen = plan[0];
  if (chosen === undefined) {
    // Nothing is worth an attempt: report the best single slot all the same.
    let bestValue = -Infinity;
    pl.candidates.forEach((c, i) => {
      const v = c.discount * pl.p(c, ctx.lastAttemptMs, 0);
      if (v > bestValue) {
        bestValue = v;
        chosen = i;
      }
    });
  }
  const c = pl.candidates[chosen!]!;
  const p = pl.p(c, ctx.lastAttemptMs, 0);
  const at = new Date(c.ms).toISOString();
  const planned = plan.map((i) => new Date(pl.candidates[i]!.ms).toISOString());
  let survive = 1;
  plan.forEach((i, k) => {
    survive *= 1 - pl.p(pl.candidates[i]!, k === 0 ? ctx.lastAttemptMs : pl.candidates[plan[k - 1]!]!.ms, k);
  });
  return {
    at,
    score: Math.round(p * 10_000) / 10_000,
    plan: planned,
    reason: explain(ctx, table, slotBuckets(ctx, c.ms), at, p, planned, 1 - survive),
  };
}

// ---------------------------------------------------------------------------------------------
// Explanations

const BUCKET_TEXT: { readonly [F in RetryFactor]: Readonly<Record<string, string>> } = {
  payday: {
    payday: 'on a common payday (1st, 15th or last business day)',
    after_1_2: '1-2 days after a common payday',
    after_3_6: '3-6 days after a common payday',
    after_7_plus: '7+ days after the last common payday',
  },
  fresh_payday: { yes: 'a payday has passed since the last attempt', no: 'no payday since the last attempt' },
  weekday: Object.fromEntries(FACTOR_BUCKETS.weekday.map((b, i) => [b, `on a ${WEEKDAY_NAMES[i]} (local)`])),
  hour: {
    h00_06: 'at night (00-06 local)',
    h06_09: 'early morning (06-09 local)',
    h09_12: 'morning (09-12 local)',
    h12_17: 'afternoon (12-17 local)',
    h17_21: 'evening (17-21 local)',
    h21_24: 'late evening (21-24 local)',
  },
  customer_day: {
    no_history: 'no earlier recoveries for this customer',
    near: 'within a day of the day of month this customer paid after earlier declines',
    close: '2-3 days from the day of month this customer paid after earlier declines',
    far: 'far from the days of month this customer paid after earlier declines',
  },
  customer_weekday: {
    no_history: 'no earlier recoveries for this customer',
    same: 'the weekday this customer paid on after earlier declines',
    adjacent: 'a day from the weekday this customer paid on after earlier declines',
    other: 'not a weekday this customer paid on after earlier declines',
  },
  retry: { '1': 'first retry', '2': 'second retry', '3': 'third retry', '4': 'fourth retry', '5_plus': 'fifth or later retry' },
  gap: {
    under_1d: 'less than a day after the last attempt',
    '1_2d': '1-2 days after the last attempt',
    '2_4d': '2-4 days after the last attempt',
    '4_7d': '4-7 days after the last attempt',
    '7d_plus': 'a week or more after the last attempt',
  },
  elapsed: {
    under_1d: 'within a day of the first failure',
    '1_3d': '1-3 days after the first failure',
    '3_7d': '3-7 days after the first failure',
    '7_14d': '7-14 days after the first failure',
    '14d_plus': '14+ days after the first failure',
  },
  amount: {
    under_20: 'amount under 20',
    '20_100': 'amount 20-100',
    '100_1000': 'amount 100-1,000',
    '1000_5000': 'amount 1,000-5,000',
    '5000_plus': 'amount 5,000 or more',
  },
  card: { credit: 'credit card', debit: 'debit card', prepaid: 'prepaid card', unknown: 'card type unknown' },
  gateway: { stripe: 'via Stripe', paypal: 'via PayPal', other: 'via another gateway' },
};

function percent(p: number): string {
  return `${(p * 100).toFixed(1)}%`;
}

function shortInstant(iso: string): string {
  return `${WEEKDAY_NAMES[new Date(iso).getUTCDay()]!.slice(0, 3)} ${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
}

function explain(ctx: RetryContext, table: KeyTable, buckets: Buckets, at: string, p: number, plan: readonly string[], planRecovery: number): string {
  const factors = RETRY_FACTORS.map((factor, order) => ({ factor, order, t: term(table, factor, buckets[factor]) }))
    .filter((f) => Math.abs(f.t) >= 0.01)
    .sort((a, b) => Math.abs(b.t) - Math.abs(a.t) || a.order - b.order)
    .slice(0, 4)
    .map((f) => `${BUCKET_TEXT[f.factor][buckets[f.factor]]} (odds x${Math.exp(f.t).toFixed(2)})`);
  const planText =
    plan.length === 0
      ? 'no attempt is worth its cost: ask the customer'
      : `plan of ${plan.length} attempt${plan.length === 1 ? '' : 's'} (${plan.map(shortInstant).join(', ')} UTC) recovers an estimated ${percent(planRecovery)}`;
  return (
    `retry ${shortInstant(at)} UTC: estimated ${percent(p)} success after ${ctx.classification.code} ` +
    `(${ctx.key}; base ${percent(sigmoid(table.baseLogit))} from prior + ${table.baseTrials} past retries); ` +
    (factors.length > 0 ? `main factors: ${factors.join(', ')}` : 'no factor moves the estimate') +
    `; ${planText}`
  );
}

// ---------------------------------------------------------------------------------------------
// Serialization

export function serializeRetryModel(model: RetryModel): string {
  return JSON.stringify(model);
}

function isTally(value: unknown): value is Tally {
  if (typeof value !== 'object' || value === null) return false;
  const { successes, trials } = value as Record<string, unknown>;
  return Number.isSafeInteger(successes) && Number.isSafeInteger(trials) && (successes as number) >= 0 && (successes as number) <= (trials as number);
}

/** Parses and checks a stored model; throws a RangeError naming the first problem. */
export function parseRetryModel(json: string): RetryModel {
  const raw = JSON.parse(json) as Record<string, unknown>;
  if (raw.version !== 1) throw new RangeError(`unsupported retry model version ${String(raw.version)}`);
  const params = raw.params as Record<string, unknown> | undefined;
  const strength = params?.priorStrength;
  const discount = params?.dailyDiscount;
  const cost = params?.attemptCostMinorUnits;
  if (typeof strength !== 'number' || !(strength > 0)) throw new RangeError('params.priorStrength must be a positive number');
  if (typeof discount !== 'number' || !(discount > 0 && discount <= 1)) throw new RangeError('params.dailyDiscount must be in (0, 1]');
  if (typeof cost !== 'number' || !(cost >= 0) || !Number.isFinite(cost)) throw new RangeError('params.attemptCostMinorUnits must be a non-negative number');
  if (!Number.isSafeInteger(raw.retriesCounted) || (raw.retriesCounted as number) < 0) throw new RangeError('retriesCounted must be a non-negative integer');
  const counts = raw.counts as Record<string, unknown> | undefined;
  const model = emptyRetryModel({ priorStrength: strength, dailyDiscount: discount, attemptCostMinorUnits: cost });
  const out = copyCounts(model);
  for (const key of MODEL_KEYS) {
    const keyCounts = counts?.[key] as { base?: unknown; factors?: Record<string, Record<string, unknown>> } | undefined;
    if (!keyCounts || !isTally(keyCounts.base)) throw new RangeError(`counts.${key}.base is missing or invalid`);
    out[key].base = { successes: keyCounts.base.successes, trials: keyCounts.base.trials };
    for (const factor of RETRY_FACTORS) {
      for (const bucket of FACTOR_BUCKETS[factor]) {
        const tally = keyCounts.factors?.[factor]?.[bucket];
        if (!isTally(tally)) throw new RangeError(`counts.${key}.factors.${factor}.${bucket} is missing or invalid`);
        out[key].factors[factor][bucket] = { successes: tally.successes, trials: tally.trials };
      }
    }
  }
  return { version: 1, params: model.params, retriesCounted: raw.retriesCounted as number, counts: out };
}
