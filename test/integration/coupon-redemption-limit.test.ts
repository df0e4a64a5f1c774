// The database's own backstop for coupon limits: a subscription redemption past the limit (as
// when two signups race for the last one) is a refusal with the limit's sentence, recognised by
// the trigger's constraint name; any other failure still fails.
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import type { DatabasePool } from '../../db/pool';
import { insertCoupon, recordSubscriptionCouponRedemption } from '../../db/purchases';
import { createTestCustomer, testPool } from '../support/environment';

let pool: DatabasePool;

beforeAll(async () => {
  pool = await testPool();
});

afterAll(async () => {
  await pool?.end();
});

it('refuses the redemption past the limit with the trigger sentence, and keeps the count at the limit', async () => {
  const couponId = `LIMIT1_${randomUUID().slice(0, 8).toUpperCase()}`;
  await insertCoupon(pool, { id: couponId, name: 'Once', discount: { kind: 'percent', basisPoints: 1000 }, duration: { kind: 'once' }, maxRedemptions: 1 });
  const customerId = await createTestCustomer(pool);
  const redeem = (subscriptionId: string) =>
    recordSubscriptionCouponRedemption(pool, { couponId, promotionCode: null, subscriptionId, customerId, redeemedAt: '2026-11-24T12:00:00.000Z' });

  expect(await redeem(`sub_a_${couponId}`)).toEqual({ ok: true });
  expect(await redeem(`sub_a_${couponId}`)).toEqual({ ok: true }); // the same subscription again: counted once
  expect(await redeem(`sub_b_${couponId}`)).toEqual({ ok: false, reason: `coupon ${couponId} has reached its limit of 1 redemptions` });
  expect(await pool.oneFirst(sql.type(z.object({ n: z.number() }))`SELECT count(*)::int8 AS n FROM coupon_redemptions WHERE coupon_id = ${couponId}`)).toBe(1);
});

it('lets any other database failure through (an unknown coupon is not a limit)', async () => {
  const customerId = await createTestCustomer(pool);
  await expect(
    recordSubscriptionCouponRedemption(pool, { couponId: 'NO_SUCH_COUPON', promotionCode: null, subscriptionId: 'sub_x', customerId, redeemedAt: '2026-11-24T12:00:00.000Z' }),
  ).rejects.toThrow();
});
