// One-time course purchases. POST /v1/orders validates the order (courses, currency, coupon or
// promotion code, payment plan) exactly as the workflow will price it, then starts one workflow
// per order; reads come from the workflow's query; cancel-access is an update it validates.
// GET /v1/customers/:id/entitlements answers, from PostgreSQL, what the customer can use now.
import { WorkflowIdReusePolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Router } from 'express';
import type { DatabasePool } from 'slonik';
import { z } from 'zod';
import { findCustomer } from '../../db/customers';
import { customerEntitlementsAt } from '../../db/purchases';
import { cancelAccessRejection, PAY_IN_FULL, paymentPlanIds, quoteCoursePurchase, type OrderView } from '../../domain/course-purchase';
import type { Coupon } from '../../domain/discounts';
import { CURRENCIES } from '../../domain/money';
import type { coursePurchaseWorkflow } from '../../workflows/course-purchase';
import { searchAttributes, TASK_QUEUE } from '../../workflows/messages';
import { cancelAccess, getOrder, orderWorkflowId } from '../../workflows/purchase-messages';
import { requireScope, type Principal } from '../auth';
import { redeemableCoupon } from '../coupons';
import { newId } from '../ids';
import { ApiError, invalidField } from '../errors';
import { claimIdempotencyKey, idempotencyKeyOf } from '../idempotency';
import { parseBody, paymentMethodToken } from '../validation';

export const createOrderBody = z
  .object({
    customerId: z.string().regex(/^cus_[A-Za-z0-9]+$/, 'must be a customer id (cus_...)'),
    courseIds: z.array(z.string().min(1).max(64)).min(1, 'an order needs at least one course').max(20),
    currency: z.enum(CURRENCIES).default('USD'),
    paymentMethod: paymentMethodToken,
    couponCode: z.string().trim().min(1).max(64).optional(),
    plan: z.string().min(1).max(64).default(PAY_IN_FULL),
  })
  .strict();

export const cancelAccessBody = z.object({ reason: z.string().max(500).optional() }).strict();

export function purchaseRoutes(pool: DatabasePool, temporal: Client, taskQueue = TASK_QUEUE): Router {
  const router = Router();

  const describe = async (orderId: string): Promise<OrderView> => {
    try {
      return await temporal.workflow.getHandle(orderWorkflowId(orderId)).query(getOrder);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) throw new ApiError(404, 'not_found', `order ${orderId} does not exist`);
      throw error;
    }
  };

  router.post('/v1/orders', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(createOrderBody, req.body);
    if (!paymentPlanIds().includes(body.plan)) {
      throw invalidField('plan', `unknown payment plan '${body.plan}'; choose one of ${paymentPlanIds().join(', ')}`);
    }
    const key = idempotencyKeyOf(req);
    const orderedAt = new Date().toISOString();
    const orderId = newId('ord');
    // Courses, currency and plan first, so their errors name their own field.
    const withoutCoupon = quoteCoursePurchase({ orderId, courseIds: body.courseIds, currency: body.currency, at: orderedAt, paymentPlan: body.plan });
    if (!withoutCoupon.ok) throw invalidField(withoutCoupon.field, withoutCoupon.reason);

    let coupon: Coupon | null = null;
    let promotionCode: string | null = null;
    if (body.couponCode) {
      const redeemed = await redeemableCoupon(pool, body.couponCode, { at: orderedAt, currency: body.currency, productIds: ['course'] });
      coupon = redeemed.coupon;
      promotionCode = redeemed.promotionCode;
      const quote = quoteCoursePurchase({
        orderId,
        courseIds: body.courseIds,
        currency: body.currency,
        at: orderedAt,
        coupon,
        couponRedemptions: redeemed.couponRedemptions,
        paymentPlan: body.plan,
      });
      if (!quote.ok) throw invalidField(quote.field, quote.reason);
    }
    if (!(await findCustomer(pool, body.customerId))) {
      throw new ApiError(404, 'not_found', `customerId: customer ${body.customerId} does not exist`, 'customerId');
    }

    const principal = res.locals.principal as Principal;
    const { resourceId, replay } = key
      ? await claimIdempotencyKey(pool, { principal, key, body, resourceType: 'order', newResourceId: orderId })
      : { resourceId: orderId, replay: false };

    try {
      await temporal.workflow.start<typeof coursePurchaseWorkflow>('coursePurchaseWorkflow', {
        workflowId: orderWorkflowId(resourceId),
        taskQueue,
        // An order id names one workflow forever: a repeated start must not run a second one.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        args: [
          {
            orderId: resourceId,
            customerId: body.customerId,
            courseIds: body.courseIds,
            currency: body.currency,
            paymentMethodToken: body.paymentMethod,
            paymentPlan: body.plan,
            coupon,
            promotionCode,
            orderedAt,
          },
        ],
        typedSearchAttributes: [{ key: searchAttributes.customerId, value: body.customerId }],
      });
    } catch (error) {
      // Already started by an earlier request with the same Idempotency-Key: answer with it.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError && replay)) throw error;
    }
    res.status(replay ? 200 : 201).json(await describe(resourceId));
  });

  router.get('/v1/orders/:id', requireScope('subscriptions:read'), async (req, res) => {
    res.json(await describe(String(req.params.id)));
  });

  router.post('/v1/orders/:id/cancel-access', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(cancelAccessBody, req.body ?? {});
    const id = String(req.params.id);
    const current = await describe(id);
    // Refused here too, so that an order whose workflow has finished answers 409, not 500.
    const refused = cancelAccessRejection(current.status, current.access.status);
    if (refused) throw new ApiError(409, 'invalid_state', `cannot cancel access: ${refused}`);
    try {
      const view = await temporal.workflow
        .getHandle(orderWorkflowId(id))
        .executeUpdate(cancelAccess, { args: [body.reason ? { reason: body.reason } : {}] });
      res.json(view);
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new ApiError(409, 'invalid_state', `cannot cancel access: ${error.cause?.message ?? error.message}`);
      }
      throw error;
    }
  });

  router.get('/v1/customers/:id/entitlements', requireScope('customers:read'), async (req, res) => {
    const id = String(req.params.id);
    const atParam = req.query.at;
    let at = new Date().toISOString();
    if (atParam !== undefined) {
      const parsed = z.string().datetime({ offset: true }).safeParse(atParam);
      if (!parsed.success) throw invalidField('at', 'must be an ISO 8601 instant such as 2031-01-31T00:00:00Z');
      at = new Date(parsed.data).toISOString();
    }
    if (!(await findCustomer(pool, id))) throw new ApiError(404, 'not_found', `customer ${id} does not exist`);
    res.json(await customerEntitlementsAt(pool, id, at));
  });

  return router;
}
