import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';

export const paymentMethodRow = z.object({
  id: z.number(),
  customer_id: z.string(),
  gateway: z.enum(['stripe', 'paypal']),
  token: z.string(),
  role: z.enum(['default', 'backup']),
  card_expires_on: z.string().nullable(),
  created_at: z.string(),
});
export type PaymentMethodRow = z.infer<typeof paymentMethodRow>;

/** The customer's usable methods, default first, then backups oldest first. */
export async function listPaymentMethods(db: CommonQueryMethods, customerId: string): Promise<readonly PaymentMethodRow[]> {
  return db.any(sql.type(paymentMethodRow)`
    SELECT id, customer_id, gateway, token, role, card_expires_on, created_at FROM payment_methods
    WHERE customer_id = ${customerId} AND detached_at IS NULL
    ORDER BY role = 'default' DESC, id`);
}

/**
 * Saves a method. A new default demotes the old one to backup in the same transaction; saving a
 * token the customer already has changes its role instead of duplicating it.
 */
export async function savePaymentMethod(
  pool: DatabasePool,
  method: { customerId: string; gateway: 'stripe' | 'paypal'; token: string; role: 'default' | 'backup'; cardExpiresOn: string | null },
): Promise<PaymentMethodRow> {
  return pool.transaction(async (tx) => {
    // Serialises concurrent saves for one customer so two defaults never race.
    await tx.query(sql.unsafe`SELECT id FROM customers WHERE id = ${method.customerId} FOR UPDATE`);
    if (method.role === 'default') {
      await tx.query(sql.unsafe`
        UPDATE payment_methods SET role = 'backup', is_default = false
        WHERE customer_id = ${method.customerId} AND role = 'default' AND detached_at IS NULL
          AND NOT (gateway = ${method.gateway} AND token = ${method.token})`);
    }
    return tx.one(sql.type(paymentMethodRow)`
      INSERT INTO payment_methods (customer_id, gateway, token, role, is_default, card_expires_on)
      VALUES (${method.customerId}, ${method.gateway}, ${method.token}, ${method.role}, ${method.role === 'default'},
              ${method.cardExpiresOn}::date)
      ON CONFLICT (customer_id, gateway, token) DO UPDATE
        SET role = EXCLUDED.role, is_default = EXCLUDED.is_default, detached_at = NULL,
            card_expires_on = coalesce(EXCLUDED.card_expires_on, payment_methods.card_expires_on)
      RETURNING id, customer_id, gateway, token, role, card_expires_on, created_at`);
  });
}

/** The customer removed this method: it is never charged again, as default or as backup. */
export async function detachPaymentMethod(db: CommonQueryMethods, customerId: string, token: string): Promise<boolean> {
  const row = await db.maybeOne(sql.unsafe`
    UPDATE payment_methods SET detached_at = now(), role = 'backup', is_default = false
    WHERE customer_id = ${customerId} AND token = ${token} AND detached_at IS NULL RETURNING id`);
  return row !== null;
}
