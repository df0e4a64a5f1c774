// Subscriptions live in workflows: POST starts one, GET asks it, cancel is an update it validates.
import { WorkflowIdReusePolicy, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { Router } from 'express';
import type { DatabasePool } from 'slonik';
import { findCustomer } from '../../db/customers';
import { listSubscriptionInvoices } from '../../db/invoices';
import { lookupRecurringPrice } from '../../domain/catalog';
import type { SubscriptionView } from '../../domain/subscription';
import {
  cancelSubscription,
  getSubscription,
  searchAttributes,
  subscriptionWorkflowId,
  TASK_QUEUE,
} from '../../workflows/messages';
import type { subscriptionWorkflow } from '../../workflows/subscription';
import { requireScope, type Principal } from '../auth';
import { ApiError, invalidField } from '../errors';
import { newId } from '../ids';
import { claimIdempotencyKey, idempotencyKeyOf } from '../idempotency';
import { cancelSubscriptionBody, createSubscriptionBody, parseBody } from '../validation';

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
    const lookup = lookupRecurringPrice(body.plan, body.interval, body.currency);
    if (!lookup.ok) throw invalidField(lookup.field, lookup.reason);
    if (body.startAt && Number.isNaN(Date.parse(body.startAt))) throw invalidField('startAt', 'is not a valid instant');
    const key = idempotencyKeyOf(req);
    if (!(await findCustomer(pool, body.customerId))) {
      throw new ApiError(404, 'not_found', `customerId: customer ${body.customerId} does not exist`, 'customerId');
    }

    const principal = res.locals.principal as Principal;
    const { resourceId: subscriptionId, replay } = key
      ? await claimIdempotencyKey(pool, { principal, key, body, resourceType: 'subscription', newResourceId: newId('sub') })
      : { resourceId: newId('sub'), replay: false };

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
            ...(body.startAt ? { startAt: new Date(body.startAt).toISOString() } : {}),
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

  router.post('/v1/subscriptions/:id/cancel', requireScope('subscriptions:write'), async (req, res) => {
    const body = parseBody(cancelSubscriptionBody, req.body ?? {});
    const id = String(req.params.id);
    await describe(id);
    try {
      const view = await temporal.workflow
        .getHandle(subscriptionWorkflowId(id))
        .executeUpdate(cancelSubscription, { args: [{ when: body.when, ...(body.reason ? { reason: body.reason } : {}) }] });
      res.json(view);
    } catch (error) {
      if (error instanceof WorkflowUpdateFailedError) {
        throw new ApiError(409, 'invalid_state', `cannot cancel: ${error.cause?.message ?? error.message}`);
      }
      throw error;
    }
  });

  return router;
}
