// What a customer can use right now, from everything they have bought. Access follows the
// service, not the payment: a subscription in recovery (past_due) keeps its access while
// dunning runs; a paused, canceled, unpaid or never-paid one does not. A course bought on a
// payment plan gives access until the buyer cancels access, even though installments go on.
import { courseEntitlement, findProduct } from './catalog';
import type { SubscriptionStatus } from './subscription';

export const ACCESS_GRANTING_STATUSES: readonly SubscriptionStatus[] = ['trialing', 'active', 'past_due'];

export interface SubscriptionHolding {
  readonly planId: string;
  readonly status: SubscriptionStatus;
  /** While past due: the end of the grace period, after which access stops until paid. */
  readonly accessEndsAt?: string | null;
  /** An open payment dispute suspends access. */
  readonly suspended?: boolean;
}

export interface CourseHolding {
  readonly courseId: string;
  /** Set when the buyer cancels access or the purchase is refunded. */
  readonly accessEndsAt?: string | null;
}

export interface ContractHolding {
  readonly termStart: string;
  readonly termEnd: string;
  /** past_due keeps access (invoices on NET terms run late); ended does not. */
  readonly status: 'active' | 'past_due' | 'ended';
}

export interface Holdings {
  readonly subscriptions?: readonly SubscriptionHolding[];
  readonly courses?: readonly CourseHolding[];
  readonly contracts?: readonly ContractHolding[];
}

export function subscriptionGrantsAccess(status: SubscriptionStatus): boolean {
  return ACCESS_GRANTING_STATUSES.includes(status);
}

/** Whether one subscription gives access at `at`: by status, within the grace period, not suspended. */
export function holdingGrantsAccess(s: SubscriptionHolding, at: string): boolean {
  if (s.suspended || !subscriptionGrantsAccess(s.status)) return false;
  return !(s.status === 'past_due' && s.accessEndsAt && Date.parse(at) >= Date.parse(s.accessEndsAt));
}

/** The customer's entitlements at an instant, sorted and without duplicates. */
export function entitlementsAt(holdings: Holdings, at: string): string[] {
  const t = Date.parse(at);
  const granted = new Set<string>();
  for (const s of holdings.subscriptions ?? []) {
    if (holdingGrantsAccess(s, at)) for (const e of findProduct(s.planId)?.entitlements ?? []) granted.add(e);
  }
  for (const c of holdings.courses ?? []) {
    if (!c.accessEndsAt || t < Date.parse(c.accessEndsAt)) granted.add(courseEntitlement(c.courseId));
  }
  for (const c of holdings.contracts ?? []) {
    if (c.status !== 'ended' && Date.parse(c.termStart) <= t && t < Date.parse(c.termEnd)) {
      for (const e of findProduct('enterprise')?.entitlements ?? []) granted.add(e);
    }
  }
  return [...granted].sort();
}

export function hasEntitlement(holdings: Holdings, entitlement: string, at: string): boolean {
  return entitlementsAt(holdings, at).includes(entitlement);
}
