// A customer's saved payment methods (gateway tokens only). A new default is passed to the
// customer's running subscriptions, which retry a failed payment with it at once.
import type { Client } from '@temporalio/client';
import { Router } from 'express';
import type { Logger } from 'pino';
import { sql, type DatabasePool } from 'slonik';
import { z } from 'zod';
import { findCustomer } from '../../db/customers';
import { listPaymentMethods, savePaymentMethod, type PaymentMethodRow } from '../../db/payment-methods';
import { paymentMethodUpdated, subscriptionWorkflowId } from '../../workflows/messages';
import { requireScope } from '../auth';
import { ApiError } from '../errors';
import { parseBody, savePaymentMethodBody } from '../validation';

function methodJson(row: PaymentMethodRow) {
  return { id: row.id, gateway: row.gateway, token: row.token, role: row.role, cardExpiresOn: row.card_expires_on, createdAt: row.created_at };
}

export function paymentMethodRoutes(pool: DatabasePool, temporal: Client, logger: Logger): Router {
  const router = Router();

  const requireCustomer = async (id: string) => {
    if (!(await findCustomer(pool, id))) throw new ApiError(404, 'not_found', `customer ${id} does not exist`);
  };

  router.get('/v1/customers/:id/payment-methods', requireScope('customers:read'), async (req, res) => {
    const id = String(req.params.id);
    await requireCustomer(id);
    res.json({ data: (await listPaymentMethods(pool, id)).map(methodJson) });
  });

  router.post('/v1/customers/:id/payment-methods', requireScope('customers:write'), async (req, res) => {
    const body = parseBody(savePaymentMethodBody, req.body);
    const id = String(req.params.id);
    await requireCustomer(id);
    const row = await savePaymentMethod(pool, {
      customerId: id,
      gateway: body.gateway,
      token: body.token,
      role: body.role,
      cardExpiresOn: body.cardExpiresOn ?? null,
    });
    if (row.role === 'default') {
      const subscriptions = await pool.anyFirst(sql.type(z.object({ id: z.string() }))`
        SELECT id FROM subscriptions WHERE customer_id = ${id} AND status NOT IN ('canceled', 'unpaid')`);
      for (const subscriptionId of subscriptions) {
        try {
          await temporal.workflow.getHandle(subscriptionWorkflowId(subscriptionId)).signal(paymentMethodUpdated, { token: row.token });
        } catch (error) {
          // The method is saved either way; the next charge reads the customer's methods.
          logger.warn({ err: error, subscriptionId }, 'could not signal the new payment method');
        }
      }
    }
    res.status(201).json(methodJson(row));
  });

  return router;
}
