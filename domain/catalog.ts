// The business's offers as data. Prices are versioned: a subscription keeps the price snapshot
// it signed up with (see PriceSnapshot), so a later catalog change never silently reprices it.
// Each currency's amount is a price point chosen by the business, never converted at runtime.
import type { BillingInterval } from './calendar';
import type { Currency } from './money';

/** Prices are quoted in USD unless the customer chooses another currency the price offers. */
export const DEFAULT_CURRENCY: Currency = 'USD';

/** The newest price list version; version 2 added the Community v2 price (see RECURRING_PRICES). */
export const CATALOG_VERSION = 2;

export type ProductKind = 'subscription' | 'one_time' | 'custom_contract';

export interface Product {
  readonly id: string;
  readonly name: string;
  readonly kind: ProductKind;
  /** What a paying customer gets access to, for the business's other systems. */
  readonly entitlements: readonly string[];
}

export interface RecurringPrice {
  readonly id: string;
  readonly productId: string;
  readonly interval: BillingInterval;
  readonly amounts: Readonly<Partial<Record<Currency, number>>>; // minor units per currency
  readonly version: number;
  /** First instant new subscribers get this price; absent means since launch. */
  readonly effectiveFrom?: string;
  /** Free days before the first charge, for plans that offer a trial. */
  readonly trialDays?: number;
}

export const PRODUCTS: readonly Product[] = [
  { id: 'elite', name: 'Elite 1:1 Coaching', kind: 'subscription', entitlements: ['elite-coaching', 'community'] },
  { id: 'group', name: 'Group Coaching', kind: 'subscription', entitlements: ['group-program', 'community'] },
  { id: 'course', name: 'Self-Paced Course', kind: 'one_time', entitlements: ['course'] },
  { id: 'community', name: 'Community Access', kind: 'subscription', entitlements: ['community'] },
  { id: 'enterprise', name: 'Enterprise Training', kind: 'custom_contract', entitlements: ['enterprise-training'] },
];

// Community launched in USD and GBP only; its EUR price point arrives with the v2 price list.
export const RECURRING_PRICES: readonly RecurringPrice[] = [
  { id: 'elite-monthly-v1', productId: 'elite', interval: 'month', amounts: { USD: 500_000, EUR: 460_000, GBP: 400_000 }, version: 1 },
  // Annual: 10% off twelve months ($60,000 -> $54,000; €55,200 -> €49,680; £48,000 -> £43,200).
  { id: 'elite-annual-v1', productId: 'elite', interval: 'year', amounts: { USD: 5_400_000, EUR: 4_968_000, GBP: 4_320_000 }, version: 1 },
  { id: 'group-monthly-v1', productId: 'group', interval: 'month', amounts: { USD: 150_000, EUR: 140_000, GBP: 120_000 }, version: 1, trialDays: 7 },
  // Quarterly: three months for the price of 2.8 in every currency.
  { id: 'group-quarterly-v1', productId: 'group', interval: 'quarter', amounts: { USD: 420_000, EUR: 392_000, GBP: 336_000 }, version: 1 },
  { id: 'community-monthly-v1', productId: 'community', interval: 'month', amounts: { USD: 9_700, GBP: 7_900 }, version: 1, trialDays: 14 },
  { id: 'community-annual-v1', productId: 'community', interval: 'year', amounts: { USD: 97_000, GBP: 79_000 }, version: 1, trialDays: 14 },
  // A price rise for new subscribers only: holders of community-monthly-v1 keep paying $97.
  {
    id: 'community-monthly-v2',
    productId: 'community',
    interval: 'month',
    amounts: { USD: 10_700, EUR: 9_900, GBP: 8_700 },
    version: 2,
    effectiveFrom: '2032-01-01T00:00:00.000Z',
    trialDays: 14,
  },
];

/** Plan order for deciding whether a change is an upgrade (applied now) or a downgrade. */
export const PLAN_TIERS: Readonly<Record<string, number>> = { community: 1, group: 2, elite: 3 };

/** What a subscription stores at signup and bills from, whatever the catalog later says. */
export interface PriceSnapshot {
  readonly priceId: string;
  readonly planId: string;
  readonly productName: string;
  readonly interval: BillingInterval;
  readonly unitAmount: number;
  readonly currency: Currency;
  readonly catalogVersion: number;
}

export type PriceLookup =
  | { readonly ok: true; readonly price: PriceSnapshot }
  | { readonly ok: false; readonly field: 'plan' | 'interval' | 'currency'; readonly reason: string };

export function findProduct(planId: string): Product | undefined {
  return PRODUCTS.find((p) => p.id === planId);
}

export function recurringPlanIds(): string[] {
  return PRODUCTS.filter((p) => p.kind === 'subscription').map((p) => p.id);
}

/**
 * The launch (version 1) price of a plan. Kept for callers that predate versioning; new
 * signups should use lookupRecurringPriceAt so that they get the price in effect at signup.
 */
export function lookupRecurringPrice(planId: string, interval: BillingInterval, currency: Currency): PriceLookup {
  return lookupIn(planId, interval, currency, (candidates) => candidates[0]);
}

/** The price a new subscriber signing up at `at` gets: the newest version already in effect. */
export function lookupRecurringPriceAt(planId: string, interval: BillingInterval, currency: Currency, at: string): PriceLookup {
  const atMs = Date.parse(at);
  if (Number.isNaN(atMs)) throw new RangeError(`not an instant: ${at}`);
  return lookupIn(planId, interval, currency, (candidates) =>
    candidates
      .filter((p) => p.effectiveFrom === undefined || Date.parse(p.effectiveFrom) <= atMs)
      .reduce<RecurringPrice | undefined>((newest, p) => (!newest || p.version > newest.version ? p : newest), undefined),
  );
}

function lookupIn(
  planId: string,
  interval: BillingInterval,
  currency: Currency,
  choose: (candidates: readonly RecurringPrice[]) => RecurringPrice | undefined,
): PriceLookup {
  const product = findProduct(planId);
  if (!product || product.kind !== 'subscription') {
    return { ok: false, field: 'plan', reason: `unknown plan '${planId}'; choose one of ${recurringPlanIds().join(', ')}` };
  }
  const price = choose(RECURRING_PRICES.filter((p) => p.productId === planId && p.interval === interval));
  if (!price) {
    const offered = [...new Set(RECURRING_PRICES.filter((p) => p.productId === planId).map((p) => p.interval))];
    return { ok: false, field: 'interval', reason: `plan '${planId}' is not sold per ${interval}; offered: ${offered.join(', ')}` };
  }
  const snapshot = snapshotOf(price, currency);
  if (!snapshot) return { ok: false, field: 'currency', reason: `plan '${planId}' has no ${currency} price` };
  return { ok: true, price: snapshot };
}

function snapshotOf(price: RecurringPrice, currency: Currency): PriceSnapshot | undefined {
  const product = findProduct(price.productId);
  const unitAmount = price.amounts[currency];
  if (!product || unitAmount === undefined) return undefined;
  return {
    priceId: price.id,
    planId: price.productId,
    productName: product.name,
    interval: price.interval,
    unitAmount,
    currency,
    catalogVersion: price.version,
  };
}

export function findRecurringPrice(priceId: string): RecurringPrice | undefined {
  return RECURRING_PRICES.find((p) => p.id === priceId);
}

/** A snapshot of a specific price id, e.g. to restore a grandfathered subscriber's price. */
export function recurringPriceSnapshot(priceId: string, currency: Currency): PriceSnapshot | undefined {
  const price = findRecurringPrice(priceId);
  return price && snapshotOf(price, currency);
}

/** 0 when the price has no trial. */
export function trialDaysFor(priceId: string): number {
  return findRecurringPrice(priceId)?.trialDays ?? 0;
}

export function planTier(planId: string): number {
  const tier = PLAN_TIERS[planId];
  if (tier === undefined) throw new RangeError(`plan '${planId}' has no tier`);
  return tier;
}

const INTERVAL_ADJECTIVE: Record<BillingInterval, string> = { month: 'monthly', quarter: 'quarterly', year: 'annual' };

/** "Community Access (monthly)": the wording renewal invoices use. */
export function priceLabel(price: Pick<PriceSnapshot, 'productName' | 'interval'>): string {
  return `${price.productName} (${INTERVAL_ADJECTIVE[price.interval]})`;
}

// ---- Self-paced courses: one-time purchases, each its own entitlement ----

export interface Course {
  readonly id: string;
  readonly name: string;
  readonly priceId: string;
  readonly amounts: Readonly<Partial<Record<Currency, number>>>;
  readonly version: number;
}

const COURSE_AMOUNTS = { USD: 99_700, EUR: 92_700, GBP: 79_700 } as const;

export const COURSES: readonly Course[] = [
  { id: 'offer-design', name: 'Offer Design Masterclass', priceId: 'course-offer-design-v1', amounts: COURSE_AMOUNTS, version: 1 },
  { id: 'sales-calls', name: 'High-Ticket Sales Calls', priceId: 'course-sales-calls-v1', amounts: COURSE_AMOUNTS, version: 1 },
  { id: 'content-engine', name: 'Content Engine', priceId: 'course-content-engine-v1', amounts: COURSE_AMOUNTS, version: 1 },
  { id: 'client-delivery', name: 'Client Delivery Systems', priceId: 'course-client-delivery-v1', amounts: COURSE_AMOUNTS, version: 1 },
];

export interface CoursePriceSnapshot {
  readonly priceId: string;
  readonly courseId: string;
  readonly courseName: string;
  readonly unitAmount: number;
  readonly currency: Currency;
  readonly catalogVersion: number;
}

export type CoursePriceLookup =
  | { readonly ok: true; readonly price: CoursePriceSnapshot }
  | { readonly ok: false; readonly field: 'course' | 'currency'; readonly reason: string };

export function lookupCoursePrice(courseId: string, currency: Currency): CoursePriceLookup {
  const course = COURSES.find((c) => c.id === courseId);
  if (!course) {
    return { ok: false, field: 'course', reason: `unknown course '${courseId}'; choose one of ${COURSES.map((c) => c.id).join(', ')}` };
  }
  const unitAmount = course.amounts[currency];
  if (unitAmount === undefined) return { ok: false, field: 'currency', reason: `course '${courseId}' has no ${currency} price` };
  return {
    ok: true,
    price: { priceId: course.priceId, courseId, courseName: course.name, unitAmount, currency, catalogVersion: course.version },
  };
}

/** The entitlement a purchased course grants, e.g. "course:offer-design". */
export function courseEntitlement(courseId: string): string {
  return `course:${courseId}`;
}

/** Buying several courses at once: the tier with the highest minCourses reached applies. */
export interface BundleTier {
  readonly minCourses: number;
  readonly basisPoints: number; // percent off the courses' list prices, 1% = 100
}

export const COURSE_BUNDLE_TIERS: readonly BundleTier[] = [
  { minCourses: 2, basisPoints: 1_000 },
  { minCourses: 3, basisPoints: 2_000 },
];

// ---- Payment plans for high-ticket one-time offers ----

export interface InstallmentPlan {
  readonly id: string;
  readonly name: string;
  /** Product kinds this plan may pay for, by product id. */
  readonly productIds: readonly string[];
  readonly installments: number;
  readonly interval: BillingInterval;
}

export const INSTALLMENT_PLANS: readonly InstallmentPlan[] = [
  { id: 'course-3-monthly', name: 'Course in 3 monthly payments', productIds: ['course'], installments: 3, interval: 'month' },
];

export function findInstallmentPlan(planId: string): InstallmentPlan | undefined {
  return INSTALLMENT_PLANS.find((p) => p.id === planId);
}
