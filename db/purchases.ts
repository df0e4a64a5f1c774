// Course orders, their installments, coupon redemptions and course access grants.
import { CheckIntegrityConstraintViolationError, sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { courseEntitlement, findProduct } from '../domain/catalog';
import type { InstallmentStatus, OrderStatus } from '../domain/course-purchase';
import type { Coupon, CouponDiscount, CouponDuration, PromotionCode } from '../domain/discounts';
import { entitlementsAt, holdingGrantsAccess } from '../domain/entitlements';
import type { Currency } from '../domain/money';
import type { SubscriptionStatus } from '../domain/subscription';

// ---- Coupons and promotion codes ----

const couponRow = z.object({
  id: z.string(),
  name: z.string(),
  percent_off_basis_points: z.number().nullable(),
  amounts_off: z.record(z.number()).nullable(),
  duration: z.enum(['once', 'repeating', 'forever']),
  duration_periods: z.number().nullable(),
  redeem_by: z.string().nullable(),
  max_redemptions: z.number().nullable(),
  applies_to: z.array(z.string()).nullable(),
});
type CouponRow = z.infer<typeof couponRow>;

const COUPON_COLUMNS = sql.fragment`id, name, percent_off_basis_points, amounts_off, duration, duration_periods, redeem_by,
  max_redemptions, applies_to`;

function couponOf(row: CouponRow): Coupon {
  const discount: CouponDiscount =
    row.percent_off_basis_points !== null
      ? { kind: 'percent', basisPoints: row.percent_off_basis_points }
      : { kind: 'amount', amounts: (row.amounts_off ?? {}) as Partial<Record<Currency, number>> };
  const duration: CouponDuration =
    row.duration === 'repeating' ? { kind: 'repeating', periods: row.duration_periods ?? 1 } : { kind: row.duration };
  return {
    id: row.id,
    name: row.name,
    discount,
    duration,
    redeemBy: row.redeem_by,
    maxRedemptions: row.max_redemptions,
    appliesTo: row.applies_to,
  };
}

export async function insertCoupon(db: CommonQueryMethods, coupon: Coupon): Promise<void> {
  const percent = coupon.discount.kind === 'percent' ? coupon.discount.basisPoints : null;
  const amounts = coupon.discount.kind === 'amount' ? sql.jsonb(coupon.discount.amounts as Record<string, number>) : null;
  const periods = coupon.duration.kind === 'repeating' ? coupon.duration.periods : null;
  await db.query(sql.unsafe`
    INSERT INTO coupons (id, name, percent_off_basis_points, amounts_off, duration, duration_periods, redeem_by,
                         max_redemptions, applies_to)
    VALUES (${coupon.id}, ${coupon.name}, ${percent}, ${amounts}, ${coupon.duration.kind}, ${periods},
            ${coupon.redeemBy ?? null}::timestamptz, ${coupon.maxRedemptions ?? null},
            ${coupon.appliesTo ? sql.array([...coupon.appliesTo], 'text') : null})`);
}

export async function insertPromotionCode(db: CommonQueryMethods, code: PromotionCode): Promise<void> {
  await db.query(sql.unsafe`
    INSERT INTO promotion_codes (code, coupon_id, active, expires_at, max_redemptions)
    VALUES (${code.code.toUpperCase()}, ${code.couponId}, ${code.active}, ${code.expiresAt ?? null}::timestamptz,
            ${code.maxRedemptions ?? null})`);
}

export interface CouponForCode {
  readonly coupon: Coupon;
  /** Present when the code was a promotion code rather than the coupon's own id. */
  readonly promotionCode: PromotionCode | null;
  readonly couponRedemptions: number;
  readonly codeRedemptions: number;
}

const promotionRow = z.object({
  code: z.string(),
  coupon_id: z.string(),
  active: z.boolean(),
  expires_at: z.string().nullable(),
  max_redemptions: z.number().nullable(),
});
const countRow = z.object({ count: z.number() });

/**
 * What a code the customer typed redeems: a promotion code (case-insensitive) first, else a
 * coupon by its id. Counts are a snapshot for validation; placing the order enforces them again.
 */
export async function findCouponForCode(db: CommonQueryMethods, code: string): Promise<CouponForCode | null> {
  const promotion = await db.maybeOne(sql.type(promotionRow)`
    SELECT code, coupon_id, active, expires_at, max_redemptions FROM promotion_codes WHERE code = ${code.trim().toUpperCase()}`);
  const row = await db.maybeOne(sql.type(couponRow)`
    SELECT ${COUPON_COLUMNS} FROM coupons WHERE id = ${promotion ? promotion.coupon_id : code.trim()}`);
  if (!row) return null;
  const couponRedemptions = await db.oneFirst(sql.type(countRow)`
    SELECT count(*)::int8 AS count FROM coupon_redemptions WHERE coupon_id = ${row.id}`);
  const codeRedemptions = promotion
    ? await db.oneFirst(sql.type(countRow)`
        SELECT count(*)::int8 AS count FROM coupon_redemptions WHERE promotion_code = ${promotion.code}`)
    : 0;
  return {
    coupon: couponOf(row),
    promotionCode: promotion
      ? {
          code: promotion.code,
          couponId: promotion.coupon_id,
          active: promotion.active,
          expiresAt: promotion.expires_at,
          maxRedemptions: promotion.max_redemptions,
        }
      : null,
    couponRedemptions,
    codeRedemptions,
  };
}

// ---- Orders ----

export interface PlacedCourseOrder {
  readonly orderId: string;
  readonly customerId: string;
  readonly currency: Currency;
  readonly paymentPlan: string;
  readonly subtotal: number;
  readonly discount: number;
  readonly total: number;
  readonly bundleBasisPoints: number | null;
  readonly couponId: string | null;
  readonly promotionCode: string | null;
  readonly paymentMethodToken: string;
  readonly orderedAt: string;
  readonly workflowId: string;
  readonly items: readonly {
    readonly courseId: string;
    readonly priceId: string;
    readonly catalogVersion: number;
    readonly unitAmount: number;
    readonly discountAmount: number;
  }[];
  readonly installments: readonly { readonly index: number; readonly dueAt: string; readonly amount: number }[];
}

export type PlaceOrderResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

const limitRow = z.object({ max_redemptions: z.number().nullable() });

/**
 * Writes an order, its items, its installments and its coupon redemption in one transaction,
 * or nothing when a redemption limit is reached. The limit is counted under a lock on the
 * coupon's row (and the promotion code's), so concurrent orders redeem at most max_redemptions
 * times. Idempotent: placing the same order again changes nothing and succeeds.
 */
export async function placeCourseOrder(pool: DatabasePool, order: PlacedCourseOrder): Promise<PlaceOrderResult> {
  return pool.transaction(async (tx) => {
    const existing = await tx.maybeOneFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM orders WHERE id = ${order.orderId}`);
    if (existing) return { ok: true };

    if (order.couponId) {
      const coupon = await tx.maybeOne(sql.type(limitRow)`
        SELECT max_redemptions FROM coupons WHERE id = ${order.couponId} FOR UPDATE`);
      if (!coupon) return { ok: false, reason: `coupon ${order.couponId} does not exist` };
      if (coupon.max_redemptions !== null) {
        const used = await tx.oneFirst(sql.type(countRow)`
          SELECT count(*)::int8 AS count FROM coupon_redemptions WHERE coupon_id = ${order.couponId}`);
        if (used >= coupon.max_redemptions) {
          return { ok: false, reason: `coupon ${order.couponId} has reached its limit of ${coupon.max_redemptions} redemptions` };
        }
      }
    }
    if (order.promotionCode) {
      const promotion = await tx.maybeOne(sql.type(limitRow)`
        SELECT max_redemptions FROM promotion_codes WHERE code = ${order.promotionCode} FOR UPDATE`);
      if (!promotion) return { ok: false, reason: `promotion code ${order.promotionCode} does not exist` };
      if (promotion.max_redemptions !== null) {
        const used = await tx.oneFirst(sql.type(countRow)`
          SELECT count(*)::int8 AS count FROM coupon_redemptions WHERE promotion_code = ${order.promotionCode}`);
        if (used >= promotion.max_redemptions) {
          return { ok: false, reason: `promotion code ${order.promotionCode} has reached its limit of ${promotion.max_redemptions} redemptions` };
        }
      }
    }

    await tx.query(sql.unsafe`
      INSERT INTO orders (id, customer_id, status, currency, payment_plan, subtotal, discount, total, bundle_basis_points,
                          coupon_id, promotion_code, payment_method_token, ordered_at, workflow_id)
      VALUES (${order.orderId}, ${order.customerId}, 'pending', ${order.currency}, ${order.paymentPlan}, ${order.subtotal},
              ${order.discount}, ${order.total}, ${order.bundleBasisPoints}, ${order.couponId}, ${order.promotionCode},
              ${order.paymentMethodToken}, ${order.orderedAt}::timestamptz, ${order.workflowId})`);
    for (const [position, item] of order.items.entries()) {
      await tx.query(sql.unsafe`
        INSERT INTO order_items (order_id, position, course_id, price_id, catalog_version, unit_amount, discount_amount, amount)
        VALUES (${order.orderId}, ${position}, ${item.courseId}, ${item.priceId}, ${item.catalogVersion}, ${item.unitAmount},
                ${item.discountAmount}, ${item.unitAmount - item.discountAmount})`);
    }
    for (const installment of order.installments) {
      await tx.query(sql.unsafe`
        INSERT INTO order_installments (order_id, installment_index, due_at, amount)
        VALUES (${order.orderId}, ${installment.index}, ${installment.dueAt}::timestamptz, ${installment.amount})`);
    }
    if (order.couponId) {
      await tx.query(sql.unsafe`
        INSERT INTO coupon_redemptions (coupon_id, promotion_code, order_id, customer_id, redeemed_at)
        VALUES (${order.couponId}, ${order.promotionCode}, ${order.orderId}, ${order.customerId}, ${order.orderedAt}::timestamptz)`);
    }
    return { ok: true };
  });
}

export interface OrderProgress {
  readonly orderId: string;
  readonly status: Exclude<OrderStatus, 'rejected'>;
  readonly installment: {
    readonly index: number;
    readonly status: InstallmentStatus;
    readonly invoiceId: string | null;
    readonly attempts: number;
    readonly paidAt: string | null;
  } | null;
}

/** The read model of an order, written by its workflow. */
export async function recordOrderProgress(db: CommonQueryMethods, p: OrderProgress): Promise<void> {
  await db.query(sql.unsafe`UPDATE orders SET status = ${p.status}, updated_at = now() WHERE id = ${p.orderId}`);
  if (p.installment) {
    await db.query(sql.unsafe`
      UPDATE order_installments SET status = ${p.installment.status}, invoice_id = ${p.installment.invoiceId},
        attempts = ${p.installment.attempts}, paid_at = ${p.installment.paidAt}::timestamptz
      WHERE order_id = ${p.orderId} AND installment_index = ${p.installment.index}`);
  }
}

/** Grants each course of the order once; a repeat changes nothing. */
export async function grantCourseAccess(
  db: CommonQueryMethods,
  grant: { orderId: string; customerId: string; courseIds: readonly string[]; grantedAt: string },
): Promise<void> {
  for (const courseId of grant.courseIds) {
    await db.query(sql.unsafe`
      INSERT INTO course_access_grants (order_id, course_id, customer_id, entitlement, granted_at)
      VALUES (${grant.orderId}, ${courseId}, ${grant.customerId}, ${courseEntitlement(courseId)}, ${grant.grantedAt}::timestamptz)
      ON CONFLICT (order_id, course_id) DO NOTHING`);
  }
}

/** Ends the order's course access at `at`; the first revocation's time and reason stand. */
export async function revokeCourseAccess(
  db: CommonQueryMethods,
  revocation: { orderId: string; at: string; reason: string },
): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE course_access_grants SET revoked_at = greatest(granted_at, ${revocation.at}::timestamptz), revoke_reason = ${revocation.reason}
    WHERE order_id = ${revocation.orderId} AND revoked_at IS NULL`);
}

// ---- Reads ----

export const orderRow = z.object({
  id: z.string(),
  customer_id: z.string(),
  status: z.string(),
  currency: z.string(),
  payment_plan: z.string(),
  subtotal: z.number(),
  discount: z.number(),
  total: z.number(),
  coupon_id: z.string().nullable(),
  promotion_code: z.string().nullable(),
});

export async function findOrderRow(db: CommonQueryMethods, orderId: string) {
  return db.maybeOne(sql.type(orderRow)`
    SELECT id, customer_id, status, currency, payment_plan, subtotal, discount, total, coupon_id, promotion_code
    FROM orders WHERE id = ${orderId}`);
}

export const installmentRow = z.object({
  installment_index: z.number(),
  due_at: z.string(),
  amount: z.number(),
  status: z.string(),
  invoice_id: z.string().nullable(),
  attempts: z.number(),
  paid_at: z.string().nullable(),
});

export async function listOrderInstallments(db: CommonQueryMethods, orderId: string) {
  return db.any(sql.type(installmentRow)`
    SELECT installment_index, due_at, amount, status, invoice_id, attempts, paid_at
    FROM order_installments WHERE order_id = ${orderId} ORDER BY installment_index`);
}

export const orderItemRow = z.object({
  course_id: z.string(),
  unit_amount: z.number(),
  discount_amount: z.number(),
  amount: z.number(),
});

export async function listOrderItems(db: CommonQueryMethods, orderId: string) {
  return db.any(sql.type(orderItemRow)`
    SELECT course_id, unit_amount, discount_amount, amount FROM order_items WHERE order_id = ${orderId} ORDER BY position`);
}

export const grantRow = z.object({
  order_id: z.string(),
  course_id: z.string(),
  entitlement: z.string(),
  granted_at: z.string(),
  revoked_at: z.string().nullable(),
  revoke_reason: z.string().nullable(),
});

export async function listOrderGrants(db: CommonQueryMethods, orderId: string) {
  return db.any(sql.type(grantRow)`
    SELECT order_id, course_id, entitlement, granted_at, revoked_at, revoke_reason
    FROM course_access_grants WHERE order_id = ${orderId} ORDER BY course_id`);
}

export interface CustomerEntitlements {
  readonly customerId: string;
  readonly asOf: string;
  /** Sorted, without duplicates: e.g. ["community", "course:offer-design"]. */
  readonly entitlements: readonly string[];
  /** Where they come from. */
  readonly subscriptions: readonly { subscriptionId: string; planId: string; status: string; entitlements: readonly string[] }[];
  readonly courses: readonly { courseId: string; orderId: string; entitlement: string; grantedAt: string }[];
}

const holdingSubscriptionRow = z.object({
  id: z.string(),
  plan_id: z.string(),
  status: z.string(),
  access_ends_at: z.string().nullable(),
  access_suspended: z.boolean(),
});

/**
 * What the customer has access to at `at`: the products of subscriptions whose status grants
 * access (trialing, active, past_due) and the course grants in force (granted, not yet revoked).
 */
export async function customerEntitlementsAt(db: CommonQueryMethods, customerId: string, at: string): Promise<CustomerEntitlements> {
  const subscriptions = await db.any(sql.type(holdingSubscriptionRow)`
    SELECT id, plan_id, status, access_ends_at,
           access_suspended
    FROM subscriptions WHERE customer_id = ${customerId} ORDER BY created_at, id`);
  const grants = await db.any(sql.type(grantRow)`
    SELECT order_id, course_id, entitlement, granted_at, revoked_at, revoke_reason FROM course_access_grants
    WHERE customer_id = ${customerId} AND granted_at <= ${at}::timestamptz
      AND (revoked_at IS NULL OR revoked_at > ${at}::timestamptz)
    ORDER BY granted_at, order_id, course_id`);
  const holding = (s: (typeof subscriptions)[number]) => ({
    planId: s.plan_id,
    status: s.status as SubscriptionStatus,
    accessEndsAt: s.access_ends_at,
    suspended: s.access_suspended,
  });
  const granting = subscriptions.filter((s) => holdingGrantsAccess(holding(s), at));
  return {
    customerId,
    asOf: at,
    entitlements: entitlementsAt(
      {
        subscriptions: granting.map(holding),
        courses: grants.map((g) => ({ courseId: g.course_id, accessEndsAt: g.revoked_at })),
      },
      at,
    ),
    subscriptions: granting.map((s) => ({
      subscriptionId: s.id,
      planId: s.plan_id,
      status: s.status,
      entitlements: findProduct(s.plan_id)?.entitlements ?? [],
    })),
    courses: grants.map((g) => ({ courseId: g.course_id, orderId: g.order_id, entitlement: g.entitlement, grantedAt: g.granted_at })),
  };
}


/** The name the redemption-limit trigger gives its check violation. */
const REDEMPTION_LIMIT_CONSTRAINT = 'coupon_redemption_limit';

/**
 * Counts a coupon redeemed by a subscription, once per subscription; refused (nothing written)
 * when the coupon's or code's redemption limit is reached (the database trigger enforces it).
 */
export async function recordSubscriptionCouponRedemption(
  pool: DatabasePool,
  r: { couponId: string; promotionCode: string | null; subscriptionId: string; customerId: string; redeemedAt: string },
): Promise<PlaceOrderResult> {
  // Already counted for this subscription (a retried request): nothing to do. Checked first, as
  // the limit trigger runs before ON CONFLICT could skip the row.
  const counted = await pool.exists(sql.unsafe`
    SELECT 1 FROM coupon_redemptions WHERE coupon_id = ${r.couponId} AND subscription_id = ${r.subscriptionId}`);
  if (counted) return { ok: true };
  try {
    await pool.query(sql.unsafe`
      INSERT INTO coupon_redemptions (coupon_id, promotion_code, subscription_id, customer_id, redeemed_at)
      VALUES (${r.couponId}, ${r.promotionCode}, ${r.subscriptionId}, ${r.customerId}, ${r.redeemedAt}::timestamptz)
      ON CONFLICT (coupon_id, subscription_id) WHERE subscription_id IS NOT NULL DO NOTHING`);
    return { ok: true };
  } catch (error) {
    // The database's backstop (a concurrent redemption took the last one): refused, not failed.
    if (error instanceof CheckIntegrityConstraintViolationError && error.constraint === REDEMPTION_LIMIT_CONSTRAINT) {
      return { ok: false, reason: error.cause?.message ?? 'the coupon has reached its redemption limit' };
    }
    throw error;
  }
}
