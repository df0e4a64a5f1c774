import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { PriceSnapshot } from '../domain/catalog';
import type { StatusChange, SubscriptionStatus } from '../domain/subscription';
import { gatewayOfToken } from '../gateways/gateway';

export interface SubscriptionRecord {
  readonly subscriptionId: string;
  readonly customerId: string;
  readonly plan: PriceSnapshot;
  readonly status: SubscriptionStatus;
  readonly anchor: string;
  readonly paymentMethodToken: string;
}

/** Idempotent: the workflow may run this activity more than once. */
export async function upsertSubscription(db: CommonQueryMethods, s: SubscriptionRecord): Promise<void> {
  // The subscription's method becomes the customer's default only if they have none yet.
  await db.query(sql.unsafe`
    INSERT INTO payment_methods (customer_id, gateway, token, role, is_default)
    SELECT ${s.customerId}, ${gatewayOfToken(s.paymentMethodToken)}, ${s.paymentMethodToken}, r.role, r.role = 'default'
    FROM (SELECT CASE WHEN EXISTS (SELECT 1 FROM payment_methods WHERE customer_id = ${s.customerId}
                                    AND role = 'default' AND detached_at IS NULL)
                      THEN 'backup' ELSE 'default' END AS role) r
    ON CONFLICT (customer_id, gateway, token) DO NOTHING`);
  await db.query(sql.unsafe`
    INSERT INTO subscriptions (id, customer_id, plan_id, price_id, billing_interval, unit_amount, currency,
                               catalog_version, status, anchor, workflow_id)
    VALUES (${s.subscriptionId}, ${s.customerId}, ${s.plan.planId}, ${s.plan.priceId}, ${s.plan.interval},
            ${s.plan.unitAmount}, ${s.plan.currency}, ${s.plan.catalogVersion}, ${s.status},
            ${s.anchor}::timestamptz, ${s.subscriptionId})
    ON CONFLICT (id) DO NOTHING`);
}

export interface SubscriptionProgress {
  readonly subscriptionId: string;
  readonly status: SubscriptionStatus;
  readonly currentPeriodStart: string | null;
  readonly currentPeriodEnd: string | null;
  readonly cancelAtPeriodEnd: boolean;
  readonly canceledAt: string | null;
  /** The workflow's running count of status changes; the change itself, when there is one. */
  readonly change: (StatusChange & { seq: number }) | null;
  // Written by the second version of the workflow (lifecycle and dunning); absent from the first.
  readonly plan?: PriceSnapshot;
  readonly quantity?: number;
  readonly trialEnd?: string | null;
  readonly pausedAt?: string | null;
  /** The end of the grace period while a payment is being recovered; null otherwise. */
  readonly accessEndsAt?: string | null;
  readonly accessSuspended?: boolean;
}

/** The read model of a subscription, written by the workflow through an activity. */
export async function recordSubscriptionProgress(db: CommonQueryMethods, p: SubscriptionProgress): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE subscriptions SET
      status = ${p.status},
      current_period_start = ${p.currentPeriodStart}::timestamptz,
      current_period_end = ${p.currentPeriodEnd}::timestamptz,
      cancel_at_period_end = ${p.cancelAtPeriodEnd},
      canceled_at = ${p.canceledAt}::timestamptz,
      updated_at = now()
    WHERE id = ${p.subscriptionId}`);
  if (p.plan) {
    await db.query(sql.unsafe`
      UPDATE subscriptions SET
        plan_id = ${p.plan.planId}, price_id = ${p.plan.priceId}, billing_interval = ${p.plan.interval},
        unit_amount = ${p.plan.unitAmount}, catalog_version = ${p.plan.catalogVersion},
        quantity = ${p.quantity ?? 1},
        trial_end = ${p.trialEnd ?? null}::timestamptz,
        paused_at = ${p.pausedAt ?? null}::timestamptz,
        access_ends_at = ${p.accessEndsAt ?? null}::timestamptz,
        access_suspended = ${p.accessSuspended ?? false}
      WHERE id = ${p.subscriptionId}`);
  }
  if (p.change) {
    await db.query(sql.unsafe`
      INSERT INTO subscription_status_changes (subscription_id, seq, from_status, to_status, cause, occurred_at)
      VALUES (${p.subscriptionId}, ${p.change.seq}, ${p.change.from}, ${p.change.to}, ${p.change.cause},
              ${p.change.at}::timestamptz)
      ON CONFLICT (subscription_id, seq) DO NOTHING`);
  }
}

export const subscriptionRow = z.object({
  id: z.string(),
  customer_id: z.string(),
  plan_id: z.string(),
  status: z.string(),
  unit_amount: z.number(),
  currency: z.string(),
});

export async function findSubscriptionRow(db: CommonQueryMethods, id: string) {
  return db.maybeOne(sql.type(subscriptionRow)`
    SELECT id, customer_id, plan_id, status, unit_amount, currency FROM subscriptions WHERE id = ${id}`);
}
