// The simulated world of the dunning benchmark: customers with pay cycles, bank balances that
// rise on paydays and drain with spending, bills and shocks, cards that expire, get lost or get
// closed, issuers whose risk rules decline at random, and gateways that fail now and then.
//
// Nothing here knows about the retry model: the world only answers "would a charge of this
// customer's card succeed at this instant, and if not, what decline code comes back". The
// assumptions are listed (with their sources or reasons) in the report the simulation writes;
// the constants below are those assumptions.
import { DAY_MS } from '../domain/calendar';
import type { CardType } from '../domain/retry-model';
import { normal01, Rng, u01 } from './rng';

export const HOUR_MS = 3_600_000;

export type PayCycle = 'weekly' | 'biweekly' | 'semi_monthly' | 'monthly' | 'irregular';
export type PlanId = 'community' | 'group' | 'elite';
export type GatewayName = 'stripe' | 'paypal';
/** What really caused a decline (the simulator's truth; the policy only sees the code). */
export type Cause = 'funds' | 'issuer_block' | 'processing' | 'expired' | 'lost' | 'closed' | 'fraud' | 'auth';

// --- The assumptions --------------------------------------------------------------------------

/** Monthly price of each plan in cents (the catalog's USD prices) and its share of subscribers. */
export const PLANS: Readonly<Record<PlanId, { amount: number; share: number; incomeMedian: number; bufferMedian: number; cards: readonly (readonly [CardType, number])[] }>> = {
  // Income medians are monthly take-home pay in cents; buffers are a fraction of it.
  community: { amount: 9_700, share: 0.78, incomeMedian: 450_000, bufferMedian: 0.6, cards: [['debit', 0.55], ['credit', 0.38], ['prepaid', 0.07]] },
  group: { amount: 150_000, share: 0.15, incomeMedian: 1_200_000, bufferMedian: 0.7, cards: [['debit', 0.35], ['credit', 0.63], ['prepaid', 0.02]] },
  elite: { amount: 500_000, share: 0.07, incomeMedian: 3_500_000, bufferMedian: 0.9, cards: [['debit', 0.2], ['credit', 0.8]] },
};
/** US pay frequencies (BLS 2023: weekly 27%, biweekly 43%, semi-monthly 20%, monthly 10%) plus gig income. */
export const PAY_CYCLES: readonly (readonly [PayCycle, number])[] = [
  ['weekly', 0.24],
  ['biweekly', 0.38],
  ['semi_monthly', 0.17],
  ['monthly', 0.09],
  ['irregular', 0.12],
];
/** Spending above the customer's usual rate, per day, as a share of the balance above target. */
const SPEND_REVERSION = 0.1;
const ISSUER_BLOCK_MEAN_HOURS = 36;

/**
 * The few assumptions the benchmark's sensitivity analysis varies: how customers are paid, how
 * fast a paycheck is spent, how much buffer they keep, how long an issuer's risk block lasts.
 * Everything else stays as below. The baseline is the calibrated world of the main result.
 */
export interface WorldAssumptions {
  readonly payCycles: readonly (readonly [PayCycle, number])[];
  readonly spendReversion: number;
  /** Multiplies every plan's buffer median. */
  readonly bufferScale: number;
  readonly issuerBlockMeanHours: number;
}
export const BASELINE_WORLD: WorldAssumptions = {
  payCycles: PAY_CYCLES,
  spendReversion: SPEND_REVERSION,
  bufferScale: 1,
  issuerBlockMeanHours: ISSUER_BLOCK_MEAN_HOURS,
};
const PAYS_PER_YEAR: Readonly<Record<PayCycle, number>> = { weekly: 52, biweekly: 26, semi_monthly: 24, monthly: 12, irregular: 0 };
/** Customers' UTC offsets in minutes: mostly US time zones, some UK and EU. */
export const UTC_OFFSETS: readonly (readonly [number, number])[] = [
  [-300, 0.45],
  [-360, 0.25],
  [-420, 0.08],
  [-480, 0.14],
  [0, 0.05],
  [60, 0.03],
];
const BUFFER_SIGMA = 1.0;
const INCOME_SIGMA = 0.5;
const RENT_SHARE = 0.3;
const OTHER_BILLS_SHARE = 0.1;
const SHOCKS_PER_MONTH = 0.6;
const SHOCK_MEDIAN_SHARE = 0.15;
const SHOCK_SIGMA = 0.8;
const SPEND_NOISE_SIGMA = 0.35;
const EARLY_PAY_SHARE = 0.2; // neobanks post direct deposits up to 2 days early
const ACCOUNT_UPDATER_SHARE = 0.5; // network account updaters refresh expired / reissued cards
const LOST_PER_MONTH = 0.004;
const CLOSED_PER_MONTH = 0.001;
const FRAUD_FLAG_PER_ATTEMPT = 0.0006;
const AUTH_PER_ATTEMPT_EU = 0.03; // off-session SCA exemptions refused now and then (UK/EU only)
const PROCESSING_ERROR_PER_ATTEMPT = 0.004;
const ISSUER_BLOCK_PER_ATTEMPT = 0.012;
const ISSUER_BLOCK_PER_ATTEMPT_LARGE = 0.04; // charges of $1,000+ trip risk rules more often
/** Customers' answers to notices: the share who add a working method, by what they were told. */
export const RESPONSE = {
  hard: 0.45,
  expired: 0.55,
  action_required: 0.5,
  soft: 0.1, // a soft decline's customer switching to another card
  finalNoticeExtra: 0.1,
  finalNoticeExtraSoft: 0.05,
  withoutNotices: 0.3, // share of the above who act anyway when nobody tells them (they notice lost access)
  switchedCardFunded: 0.6, // a card chosen to replace one without funds has funds
  delayMedianHours: 18,
  delaySigma: 1.0,
  churnMeanDays: 45, // customers who cancel during dunning rather than pay
};

// Stream ids for keyed randomness.
const S = { spend: 1, shock: 2, shockSize: 3, irregular: 4, irregularSize: 5, fraud: 6, auth: 7, processing: 8, block: 9, blockLength: 10, blockCode: 11, maskCode: 12, switchFunded: 13, delay: 14 } as const;

export interface Customer {
  readonly id: string;
  readonly seed: number;
  readonly plan: PlanId;
  readonly amount: number;
  readonly utcOffsetMinutes: number;
  readonly payCycle: PayCycle;
  readonly biweeklyParity: number;
  readonly earlyDays: number;
  /** Credit cards: days after payday the statement is paid (available credit returns). */
  readonly lagDays: number;
  readonly depositHour: number;
  readonly monthlyIncome: number;
  readonly target: number;
  readonly baseSpendPerDay: number;
  readonly rentDay: number;
  readonly billDay: number;
  readonly cardType: CardType;
  readonly gateway: GatewayName;
  readonly accountUpdater: boolean;
  readonly cardStopsDay: number; // UTC day index the card stops working (expiry)
  readonly lostDay: number;
  readonly closedDay: number;
  /** How this customer's issuer reports insufficient funds (some mask it as a generic decline). */
  readonly issuerStyle: number;
  readonly anchorDom: number;
  readonly anchorLocalHour: number;
  /** Responsiveness to notices: acts on a notice when below that notice's response share. */
  readonly care: number;
  readonly churnAfterDays: number;
  readonly spendReversion: number;
  readonly issuerBlockMeanHours: number;
}

function weekday(day: number): number {
  return (((day + 4) % 7) + 7) % 7;
}

function businessDayOnOrBefore(day: number): number {
  const w = weekday(day);
  return w === 6 ? day - 1 : w === 0 ? day - 2 : day;
}

function utcDay(year: number, month0: number, dom: number): number {
  return Date.UTC(year, month0, dom) / DAY_MS;
}

/** Whether the customer's employer pays on `day` (before early posting and statement lag). */
function isPayday(c: Customer, day: number): boolean {
  switch (c.payCycle) {
    case 'weekly':
      return weekday(day) === 5;
    case 'biweekly':
      return weekday(day) === 5 && Math.floor(day / 7) % 2 === c.biweeklyParity;
    case 'semi_monthly':
    case 'monthly': {
      const d = new Date(day * DAY_MS);
      const y = d.getUTCFullYear();
      const m = d.getUTCMonth();
      for (const month of [m, m + 1]) {
        if (c.payCycle === 'semi_monthly') {
          if (businessDayOnOrBefore(utcDay(y, month, 1)) === day || businessDayOnOrBefore(utcDay(y, month, 15)) === day) return true;
        } else if (businessDayOnOrBefore(utcDay(y, month + 1, 0)) === day) return true;
      }
      return false;
    }
    case 'irregular':
      return false;
  }
}

export function drawCustomer(id: string, seed: number, startDay: number, world: WorldAssumptions = BASELINE_WORLD): Customer {
  const r = new Rng(seed);
  const plan = r.pick(Object.entries(PLANS).map(([k, v]) => [k as PlanId, v.share] as const));
  const p = PLANS[plan];
  const monthlyIncome = Math.round(r.logNormal(p.incomeMedian, INCOME_SIGMA));
  const target = Math.round(monthlyIncome * r.logNormal(p.bufferMedian * world.bufferScale, BUFFER_SIGMA));
  const cardType = r.pick(p.cards);
  const expectedShocks = SHOCKS_PER_MONTH * SHOCK_MEDIAN_SHARE * Math.exp((SHOCK_SIGMA * SHOCK_SIGMA) / 2);
  const leftForSpending = monthlyIncome * (1 - RENT_SHARE - OTHER_BILLS_SHARE - expectedShocks) - p.amount;
  const deposit = r.next();
  return {
    id,
    seed,
    plan,
    amount: p.amount,
    utcOffsetMinutes: r.pick(UTC_OFFSETS),
    payCycle: r.pick(world.payCycles),
    biweeklyParity: r.int(0, 1),
    earlyDays: r.next() < EARLY_PAY_SHARE ? r.int(1, 2) : 0,
    lagDays: cardType === 'credit' ? r.int(1, 3) : cardType === 'prepaid' ? r.int(0, 1) : 0,
    // Most direct deposits post overnight; some during the morning.
    depositHour: deposit < 0.7 ? r.next() * 6 : 6 + r.next() * 3,
    monthlyIncome,
    target: cardType === 'credit' ? Math.round(target * 1.5) : cardType === 'prepaid' ? Math.round(target * 0.5) : target,
    baseSpendPerDay: Math.max(leftForSpending, monthlyIncome * 0.1) / 30.44,
    rentDay: r.int(1, 5),
    billDay: r.int(1, 28),
    cardType,
    gateway: r.next() < 0.75 ? 'stripe' : 'paypal',
    accountUpdater: r.next() < ACCOUNT_UPDATER_SHARE,
    cardStopsDay: startDay + Math.floor(r.next() * 48 * 30.44),
    lostDay: startDay + Math.floor(r.exponential(30.44 / LOST_PER_MONTH)),
    closedDay: startDay + Math.floor(r.exponential(30.44 / CLOSED_PER_MONTH)),
    issuerStyle: r.next(),
    anchorDom: r.int(1, 28),
    anchorLocalHour: r.int(8, 22),
    care: r.next(),
    churnAfterDays: r.exponential(RESPONSE.churnMeanDays),
    spendReversion: world.spendReversion,
    issuerBlockMeanHours: world.issuerBlockMeanHours,
  };
}

/** The customer's bank balance (or available credit) through time, advanced day by day. */
export class Wallet {
  constructor(
    private readonly c: Customer,
    private day: number, // local day index
    private start: number, // balance at the start of `day`
    private chargedToday = 0,
  ) {}

  clone(): Wallet {
    return new Wallet(this.c, this.day, this.start, this.chargedToday);
  }

  private income(day: number): number {
    const c = this.c;
    if (c.payCycle === 'irregular') {
      if (u01(c.seed, S.irregular, day) >= 0.25) return 0;
      return (c.monthlyIncome / (30.44 * 0.25)) * Math.exp(0.3 * normal01(c.seed, S.irregularSize, day));
    }
    return isPayday(c, day + c.earlyDays - c.lagDays) ? (c.monthlyIncome * 12) / PAYS_PER_YEAR[c.payCycle] : 0;
  }

  private bills(day: number): number {
    const c = this.c;
    const dom = new Date(day * DAY_MS).getUTCDate();
    let total = 0;
    if (dom === c.rentDay) total += c.monthlyIncome * RENT_SHARE;
    if (dom === c.billDay) total += c.monthlyIncome * OTHER_BILLS_SHARE;
    if (u01(c.seed, S.shock, day) < SHOCKS_PER_MONTH / 30.44) {
      total += c.monthlyIncome * SHOCK_MEDIAN_SHARE * Math.exp(SHOCK_SIGMA * normal01(c.seed, S.shockSize, day));
    }
    return total;
  }

  private spending(day: number, start: number): number {
    const c = this.c;
    const usual = c.baseSpendPerDay;
    const planned = Math.max(0.3 * usual, usual + c.spendReversion * (start - c.target));
    return planned * Math.exp(SPEND_NOISE_SIGMA * normal01(c.seed, S.spend, day) - (SPEND_NOISE_SIGMA * SPEND_NOISE_SIGMA) / 2);
  }

  private advanceTo(day: number): void {
    if (day < this.day) throw new Error(`wallet of ${this.c.id} cannot go back from day ${this.day} to ${day}`);
    while (this.day < day) {
      this.start = this.start - this.bills(this.day) + this.income(this.day) - this.spending(this.day, this.start) - this.chargedToday;
      this.chargedToday = 0;
      this.day += 1;
    }
  }

  balanceAt(ms: number): number {
    const local = ms + this.c.utcOffsetMinutes * 60_000;
    const day = Math.floor(local / DAY_MS);
    this.advanceTo(day);
    const hour = (local - day * DAY_MS) / HOUR_MS;
    const spentShare = Math.min(1, Math.max(0, (hour - 8) / 14)); // spending happens 08:00-22:00
    return (
      this.start -
      this.bills(day) +
      (hour >= this.c.depositHour ? this.income(day) : 0) -
      this.spending(day, this.start) * spentShare -
      this.chargedToday
    );
  }

  charge(ms: number, amount: number): boolean {
    if (this.balanceAt(ms) < amount) return false;
    this.chargedToday += amount;
    return true;
  }
}

export type AttemptResult = { readonly ok: true } | { readonly ok: false; readonly code: string; readonly cause: Cause };

/** One customer's card and bank as the gateway sees them. */
export class CustomerWorld {
  constructor(
    readonly c: Customer,
    private wallet: Wallet,
    private replaced = false,
    private fraudFlag = false,
    private needsAuth = false,
    private blockedUntil = 0,
    private blockCode = '',
    private alwaysFunded = false,
  ) {}

  static open(c: Customer, fromMs: number): CustomerWorld {
    const day = Math.floor((fromMs + c.utcOffsetMinutes * 60_000) / DAY_MS);
    return new CustomerWorld(c, new Wallet(c, day, c.target));
  }

  clone(): CustomerWorld {
    return new CustomerWorld(this.c, this.wallet.clone(), this.replaced, this.fraudFlag, this.needsAuth, this.blockedUntil, this.blockCode, this.alwaysFunded);
  }

  /** Lets the balance process run (so histories start from a typical balance, not the target). */
  warmUpUntil(ms: number): void {
    this.wallet.balanceAt(ms);
  }

  private code(stripe: string, paypal: string): string {
    return this.c.gateway === 'stripe' ? stripe : paypal;
  }

  attempt(ms: number): AttemptResult {
    const c = this.c;
    const day = Math.floor(ms / DAY_MS);
    const hour = Math.floor(ms / HOUR_MS);
    if (!this.replaced) {
      if (day >= c.closedDay) return { ok: false, cause: 'closed', code: this.code('invalid_account', 'processor_declined_5140') };
      if (day >= c.lostDay && !c.accountUpdater) {
        return { ok: false, cause: 'lost', code: this.code(c.issuerStyle < 0.5 ? 'lost_card' : 'stolen_card', 'processor_declined_9520') };
      }
      if (day >= c.cardStopsDay && !c.accountUpdater) return { ok: false, cause: 'expired', code: 'expired_card' };
    }
    if (this.fraudFlag) return { ok: false, cause: 'fraud', code: 'fraudulent' };
    if (this.needsAuth) return { ok: false, cause: 'auth', code: this.code('authentication_required', 'payer_action_required') };
    if (u01(c.seed, S.fraud, hour) < FRAUD_FLAG_PER_ATTEMPT) {
      this.fraudFlag = true;
      return { ok: false, cause: 'fraud', code: 'fraudulent' };
    }
    if (c.utcOffsetMinutes >= 0 && u01(c.seed, S.auth, hour) < AUTH_PER_ATTEMPT_EU) {
      this.needsAuth = true;
      return { ok: false, cause: 'auth', code: this.code('authentication_required', 'payer_action_required') };
    }
    if (u01(c.seed, S.processing, hour) < PROCESSING_ERROR_PER_ATTEMPT) {
      return { ok: false, cause: 'processing', code: this.code('processing_error', 'gateway_unavailable') };
    }
    if (ms < this.blockedUntil) return { ok: false, cause: 'issuer_block', code: this.blockCode };
    const blockChance = c.amount >= 100_000 ? ISSUER_BLOCK_PER_ATTEMPT_LARGE : ISSUER_BLOCK_PER_ATTEMPT;
    if (u01(c.seed, S.block, hour) < blockChance) {
      this.blockedUntil = ms + -Math.log(1 - u01(c.seed, S.blockLength, hour)) * c.issuerBlockMeanHours * HOUR_MS;
      const v = u01(c.seed, S.blockCode, hour);
      this.blockCode = this.code(v < 0.5 ? 'do_not_honor' : v < 0.8 ? 'generic_decline' : 'try_again_later', v < 0.6 ? 'do_not_honor' : 'transaction_refused');
      return { ok: false, cause: 'issuer_block', code: this.blockCode };
    }
    if (this.alwaysFunded || this.wallet.charge(ms, c.amount)) return { ok: true };
    // Issuers differ in how openly they say "insufficient funds".
    const masked = c.gateway === 'stripe' ? (c.issuerStyle < 0.65 ? 'insufficient_funds' : c.issuerStyle < 0.85 ? 'do_not_honor' : 'generic_decline') : c.issuerStyle < 0.75 ? 'insufficient_funds' : 'generic_decline';
    return { ok: false, cause: 'funds', code: masked };
  }

  /**
   * The customer adds a new payment method (or authenticates): the old card's problems go away.
   * A card replacing one without funds is, with some chance, backed by money; a replacement for
   * a lost or expired card draws on the same account.
   */
  replaceMethod(ms: number, reason: 'soft' | 'other'): void {
    this.replaced = true;
    this.fraudFlag = false;
    this.needsAuth = false;
    this.blockedUntil = 0;
    if (reason === 'soft' && u01(this.c.seed, S.switchFunded, Math.floor(ms / HOUR_MS)) < RESPONSE.switchedCardFunded) this.alwaysFunded = true;
  }

  /** A keyed response delay in ms for a notice sent at `ms`. */
  responseDelay(ms: number, salt: number): number {
    return RESPONSE.delayMedianHours * HOUR_MS * Math.exp(RESPONSE.delaySigma * normal01(this.c.seed, S.delay, Math.floor(ms / HOUR_MS), salt));
  }
}

/** The customer's renewal instant in month `k` counted from (year, month0), at the anchor's local time. */
export function renewalInstant(c: Customer, year: number, month0: number): number {
  return Date.UTC(year, month0, c.anchorDom, c.anchorLocalHour) - c.utcOffsetMinutes * 60_000;
}
