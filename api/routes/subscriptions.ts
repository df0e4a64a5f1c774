// Subscriptions live in workflows: POST starts one, GET asks it, and every lifecycle change
// (cancel, pause, resume, plan, quantity, billing date, undo, reactivate, coupon) is an update
// the workflow validates: a refused change answers 409 with the workflow's reason and changes
// nothing.
import { WorkflowIdReusePolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Router } from 'express';
import type { DatabasePool } from 'slonik';
import { findCustomer } from '../../db/customers';
import { listSubscriptionInvoices } from '../../db/invoices';
import { recordSubscriptionCouponRedemption } from '../../db/purchases';
import { lookupRecurringPriceAt, trialDaysFor, type PriceSnapshot } from '../../domain/catalog';
import { dunningPolicyFor } from '../../domain/dunning';
import type { SubscriptionView } from '../../domain/subscription';
import { taxTreatmentFor } from '../../domain/tax';
import {
  applySubscriptionCoupon,
  cancelSubscription,
  changeSubscription,
  getSubscription,
  searchAttributes,
  subscriptionWorkflowId,
  TASK_QUEUE,
  type SubscriptionChange,
} from '../../workflows/messages';
import type { subscriptionWorkflow } from '../../workflows/subscription';
import { requireScope, type Principal } from '../auth';
import { redeemableCoupon } from '../coupons';
import { ApiError, invalidField } from '../errors';
import { newId } from '../ids';
import { claimIdempotencyKey, idempotencyKeyOf } from '../idempotency';
import {
  applyCouponBody,
  cancelSubscriptionBody,
  changeAnchorBody,
  changePlanBody,
  changeQuantityBody,
  createSubscriptionBody,
  emptyBody,
  parseBody,
  pauseSubscriptionBody,
  reactivateSubscriptionBody,
} from '../validation';

/** The coupon a code redeems for this plan now (400 naming couponCode when it cannot apply). */
function redeemableForPlan(pool: DatabasePool, couponCode: string, plan: PriceSnapshot, at: string) {
  return redeemableCoupon(pool, couponCode, { at, currency: plan.currency, productIds: [plan.planId] });
}

export function subscriptionRoutes(pool: DatabasePool, temporal: Client, taskQueue = TASK_QUEUE): Router {
  const router = Router();

  const describe = async (subscriptionId: string): Promise<SubscriptionView> => {
    try {
      return await temporal.workflow.getHandle(subscriptionWorkflowId(subscriptionId)).query(getSubscription);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError) {
        throw new ApiError(404, 'not_found', `subscription ${subscriptionId} does not exist`);
      }
      throw error;
    }
  };

  router.post('/v1/subscriptions', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(createSubscriptionBody, req.body);
    if (body.startAt && Number.isNaN(Date.parse(body.startAt))) throw invalidField('startAt', 'is not a valid instant');
    const signedUpAt = body.startAt ? new Date(body.startAt).toISOString() : new Date().toISOString();
    // New subscribers get the price in effect when they sign up; existing ones keep theirs.
    const lookup = lookupRecurringPriceAt(body.plan, body.interval, body.currency, signedUpAt);
    if (!lookup.ok) throw invalidField(lookup.field, lookup.reason);
    const key = idempotencyKeyOf(req);
    const customer = await findCustomer(pool, body.customerId);
    if (!customer) {
      throw new ApiError(404, 'not_found', `customerId: customer ${body.customerId} does not exist`, 'customerId');
    }
    const redeemed = body.couponCode ? await redeemableForPlan(pool, body.couponCode, lookup.price, signedUpAt) : null;

    const principal = res.locals.principal as Principal;
    const { resourceId: subscriptionId, replay } = key
      ? await claimIdempotencyKey(pool, { principal, key, body, resourceType: 'subscription', newResourceId: newId('sub') })
      : { resourceId: newId('sub'), replay: false };

    if (redeemed && !replay) {
      const recorded = await recordSubscriptionCouponRedemption(pool, {
        couponId: redeemed.coupon.id,
        promotionCode: redeemed.promotionCode,
        subscriptionId,
        customerId: body.customerId,
        redeemedAt: signedUpAt,
      });
      if (!recorded.ok) throw invalidField('couponCode', recorded.reason);
    }

    try {
      await temporal.workflow.start<typeof subscriptionWorkflow>('subscriptionWorkflow', {
        workflowId: subscriptionWorkflowId(subscriptionId),
        taskQueue,
        // A subscription id names one workflow forever: a repeated start must not run a second one.
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        args: [
          {
            subscriptionId,
            customerId: body.customerId,
            plan: lookup.price,
            quantity: body.quantity,
            paymentMethodToken: body.paymentMethod,
            ...(body.startAt ? { startAt: signedUpAt } : {}),
            trialDays: body.trial ? trialDaysFor(lookup.price.priceId) : 0,
            coupon: redeemed?.coupon ?? null,
            tax: customer.country ? taxTreatmentFor({ country: customer.country, vatId: customer.vat_id }) : null,
            dunningPolicy: dunningPolicyFor(lookup.price.planId),
          },
        ],
        typedSearchAttributes: [
          { key: searchAttributes.customerId, value: body.customerId },
          { key: searchAttributes.planId, value: lookup.price.planId },
          { key: searchAttributes.interval, value: lookup.price.interval },
          { key: searchAttributes.status, value: 'incomplete' },
        ],
      });
    } catch (error) {
      // Already started by an earlier request with the same Idempotency-Key: answer with it.
      if (!(error instanceof WorkflowExecutionAlreadyStartedError && replay)) throw error;
    }
    res.status(replay ? 200 : 201).json(await describe(subscriptionId));
  });

  router.get('/v1/subscriptions/:id', requireScope('subscriptions:read'), async (req, res) => {
    res.json(await describe(String(req.params.id)));
  });

  router.get('/v1/subscriptions/:id/invoices', requireScope('invoices:read'), async (req, res) => {
    const id = String(req.params.id);
    await describe(id); // 404 for an unknown subscription
    const invoices = await listSubscriptionInvoices(pool, id);
    res.json({ data: invoices });
  });

  /**
   * Runs an update on a subscription the caller has already described (404 for an unknown one);
   * the workflow's refusal becomes a 409 that says what and why.
   */
  const update = async <T>(id: string, what: string, run: (handle: ReturnType<Client['workflow']['getHandle']>) => Promise<T>): Promise<T> => {
    try {
      return await run(temporal.workflow.getHandle(subscriptionWorkflowId(id)));
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new ApiError(409, 'invalid_state', `cannot ${what}: ${error.cause?.message ?? error.message}`);
      }
      throw error;
    }
  };

  const change = (id: string, what: string, request: SubscriptionChange) =>
    update(id, what, (handle) => handle.executeUpdate(changeSubscription, { args: [request] }));
  /** A change that needs nothing from the current state: 404 first for an unknown subscription. */
  const describeThenChange = async (id: string, what: string, request: SubscriptionChange) => {
    await describe(id);
    return change(id, what, request);
  };

  router.post('/v1/subscriptions/:id/cancel', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(cancelSubscriptionBody, req.body ?? {});
    const id = String(req.params.id);
    await describe(id);
    const view = await update(id, 'cancel', (handle) =>
      handle.executeUpdate(cancelSubscription, { args: [{ when: body.when, ...(body.reason ? { reason: body.reason } : {}) }] }),
    );
    res.json(view);
  });

  router.post('/v1/subscriptions/:id/pause', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(pauseSubscriptionBody, req.body ?? {});
    const resumesAt = body.resumesAt ? new Date(body.resumesAt).toISOString() : null;
    res.json(await describeThenChange(String(req.params.id), 'pause', { kind: 'pause', anchor: body.anchor, resumesAt }));
  });

  router.post('/v1/subscriptions/:id/resume', requireScope('subscriptions:write'), async (req, res) => {
    parseBody(emptyBody, req.body ?? {});
    res.json(await describeThenChange(String(req.params.id), 'resume', { kind: 'resume' }));
  });

  router.post('/v1/subscriptions/:id/undo-cancel', requireScope('subscriptions:write'), async (req, res) => {
    parseBody(emptyBody, req.body ?? {});
    res.json(await describeThenChange(String(req.params.id), 'undo the cancellation', { kind: 'undo_cancel' }));
  });

  router.post('/v1/subscriptions/:id/plan', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(changePlanBody, req.body);
    const id = String(req.params.id);
    const current = await describe(id);
    // The current catalog price of the new plan, in the subscription's currency.
    const lookup = lookupRecurringPriceAt(body.plan, body.interval, current.plan.currency, new Date().toISOString());
    if (!lookup.ok) throw invalidField(lookup.field === 'currency' ? 'plan' : lookup.field, lookup.reason);
    res.json(await change(id, 'change the plan', { kind: 'change_plan', plan: lookup.price, ...(body.quantity ? { quantity: body.quantity } : {}) }));
  });

  router.post('/v1/subscriptions/:id/quantity', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(changeQuantityBody, req.body);
    res.json(await describeThenChange(String(req.params.id), 'change the quantity', { kind: 'change_quantity', quantity: body.quantity }));
  });

  router.post('/v1/subscriptions/:id/billing-anchor', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(changeAnchorBody, req.body);
    res.json(await describeThenChange(String(req.params.id), 'move the billing date', { kind: 'change_anchor', newAnchor: new Date(body.billingAnchor).toISOString() }));
  });

  router.post('/v1/subscriptions/:id/reactivate', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(reactivateSubscriptionBody, req.body ?? {});
    const id = String(req.params.id);
    const current = await describe(id);
    let plan: PriceSnapshot | undefined;
    if (body.plan && body.interval) {
      const lookup = lookupRecurringPriceAt(body.plan, body.interval, current.plan.currency, new Date().toISOString());
      if (!lookup.ok) throw invalidField(lookup.field === 'currency' ? 'plan' : lookup.field, lookup.reason);
      plan = lookup.price;
    }
    res.json(await change(id, 'reactivate', { kind: 'reactivate', ...(plan ? { plan } : {}), ...(body.quantity ? { quantity: body.quantity } : {}) }));
  });

  router.post('/v1/subscriptions/:id/coupon', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(applyCouponBody, req.body);
    const id = String(req.params.id);
    const current = await describe(id);
    const at = new Date().toISOString();
    const redeemed = await redeemableForPlan(pool, body.couponCode, current.plan, at);
    // The workflow refuses first (expired, one coupon per subscription), then the redemption is counted.
    const view = await update(id, 'apply the coupon', (handle) => handle.executeUpdate(applySubscriptionCoupon, { args: [{ coupon: redeemed.coupon }] }));
    await recordSubscriptionCouponRedemption(pool, {
      couponId: redeemed.coupon.id,
      promotionCode: redeemed.promotionCode,
      subscriptionId: id,
      customerId: current.customerId,
      redeemedAt: at,
    });
    res.json(view);
  });

  return router;
}
