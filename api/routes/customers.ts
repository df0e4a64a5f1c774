import { Router } from 'express';
import type { DatabasePool } from 'slonik';
import { findCustomer, insertCustomer, type CustomerRow } from '../../db/customers';
import { requireScope, type Principal } from '../auth';
import { ApiError } from '../errors';
import { newId } from '../ids';
import { claimIdempotencyKey, idempotencyKeyOf } from '../idempotency';
import { createCustomerBody, parseBody } from '../validation';

export function customerJson(row: CustomerRow) {
  return { id: row.id, email: row.email, name: row.name, country: row.country, vatId: row.vat_id, createdAt: row.created_at };
}

export function customerRoutes(pool: DatabasePool): Router {
  const router = Router();

  router.post('/v1/customers', requireScope('customers:write'), async (req, res) => {
    const body = parseBody(createCustomerBody, req.body);
    const key = idempotencyKeyOf(req);
    const principal = res.locals.principal as Principal;
    // The customer row and its idempotency claim commit together, or neither does.
    const { row, replay } = await pool.transaction(async (tx) => {
      const claim = key
        ? await claimIdempotencyKey(tx, { principal, key, body, resourceType: 'customer', newResourceId: newId('cus') })
        : { resourceId: newId('cus'), replay: false };
      if (claim.replay) return { row: (await findCustomer(tx, claim.resourceId))!, replay: true };
      const inserted = await insertCustomer(tx, { id: claim.resourceId, email: body.email, name: body.name, country: body.country ?? null, vatId: body.vatId ?? null });
      return { row: inserted, replay: false };
    });
    res.status(replay ? 200 : 201).json(customerJson(row));
  });

  router.get('/v1/customers/:id', requireScope('customers:read'), async (req, res) => {
    const row = await findCustomer(pool, String(req.params.id));
    if (!row) throw new ApiError(404, 'not_found', `customer ${req.params.id} does not exist`);
    res.json(customerJson(row));
  });

  return router;
}
