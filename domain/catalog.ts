// The business's offers as data. Prices are versioned: a subscription keeps the price snapshot
// it signed up with (see PriceSnapshot), so a later catalog change never silently reprices it.
import type { BillingInterval } from './calendar';
import type { Currency } from './money';

export const CATALOG_VERSION = 1;

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
}

export const PRODUCTS: readonly Product[] = [
  { id: 'elite', name: 'Elite 1:1 Coaching', kind: 'subscription', entitlements: ['elite-coaching', 'community'] },
  { id: 'group', name: 'Group Coaching', kind: 'subscription', entitlements: ['group-program', 'community'] },
  { id: 'course', name: 'Self-Paced Course', kind: 'one_time', entitlements: ['course'] },
  { id: 'community', name: 'Community Access', kind: 'subscription', entitlements: ['community'] },
  { id: 'enterprise', name: 'Enterprise Training', kind: 'custom_contract', entitlements: ['enterprise-training'] },
];

export const RECURRING_PRICES: readonly RecurringPrice[] = [
  { id: 'elite-monthly-v1', productId: 'elite', interval: 'month', amounts: { USD: 500_000 }, version: 1 },
  // Annual: 10% off twelve months ($60,000 -> $54,000).
  { id: 'elite-annual-v1', productId: 'elite', interval: 'year', amounts: { USD: 5_400_000 }, version: 1 },
  { id: 'group-monthly-v1', productId: 'group', interval: 'month', amounts: { USD: 150_000 }, version: 1 },
  { id: 'group-quarterly-v1', productId: 'group', interval: 'quarter', amounts: { USD: 420_000 }, version: 1 },
  { id: 'community-monthly-v1', productId: 'community', interval: 'month', amounts: { USD: 9_700 }, version: 1 },
  { id: 'community-annual-v1', productId: 'community', interval: 'year', amounts: { USD: 97_000 }, version: 1 },
];

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

export function lookupRecurringPrice(planId: string, interval: BillingInterval, currency: Currency): PriceLookup {
  const product = findProduct(planId);
  if (!product || product.kind !== 'subscription') {
    return { ok: false, field: 'plan', reason: `unknown plan '${planId}'; choose one of ${recurringPlanIds().join(', ')}` };
  }
  const price = RECURRING_PRICES.find((p) => p.productId === planId && p.interval === interval);
  if (!price) {
    const offered = RECURRING_PRICES.filter((p) => p.productId === planId).map((p) => p.interval);
    return { ok: false, field: 'interval', reason: `plan '${planId}' is not sold per ${interval}; offered: ${offered.join(', ')}` };
  }
  const unitAmount = price.amounts[currency];
  if (unitAmount === undefined) {
    return { ok: false, field: 'currency', reason: `plan '${planId}' has no ${currency} price` };
  }
  return {
    ok: true,
    price: {
      priceId: price.id,
      planId,
      productName: product.name,
      interval,
      unitAmount,
      currency,
      catalogVersion: price.version,
    },
  };
}
