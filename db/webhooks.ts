import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import type { GatewayEvent } from '../domain/gateway-events';

/** Stores an event once; false when its id was stored before (a retried delivery). */
export async function storeWebhookEvent(db: CommonQueryMethods, gateway: string, type: string, id: string, payload: unknown): Promise<boolean> {
  const inserted = await db.maybeOne(sql.unsafe`
    INSERT INTO webhook_events (id, gateway, type, payload) VALUES (${`${gateway}:${id}`}, ${gateway}, ${type}, ${sql.jsonb(payload as never)})
    ON CONFLICT (id) DO NOTHING RETURNING id`);
  return inserted !== null;
}

export async function markWebhookSignaled(db: CommonQueryMethods, gateway: string, id: string): Promise<void> {
  await db.query(sql.unsafe`UPDATE webhook_events SET signaled_at = now() WHERE id = ${`${gateway}:${id}`} AND signaled_at IS NULL`);
}

const pendingRow = z.object({ gateway: z.string(), type: z.string(), payload: z.any() });

export async function unsignaledWebhookEvents(db: CommonQueryMethods, limit = 100) {
  return db.any(sql.type(pendingRow)`
    SELECT gateway, type, payload FROM webhook_events WHERE signaled_at IS NULL ORDER BY received_at LIMIT ${limit}`);
}

/** The subscription an event belongs to: named in metadata, or found through our own records. */
export async function owningSubscription(db: CommonQueryMethods, event: GatewayEvent): Promise<string | null> {
  if (event.subscriptionId) return event.subscriptionId;
  if (event.invoiceId) {
    const id = await db.maybeOneFirst(sql.type(z.object({ subscription_id: z.string().nullable() }))`
      SELECT subscription_id FROM invoices WHERE id = ${event.invoiceId}`);
    if (id) return id;
  }
  if (event.paymentReference) {
    const id = await db.maybeOneFirst(sql.type(z.object({ subscription_id: z.string().nullable() }))`
      SELECT i.subscription_id FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id
      WHERE a.gateway_reference = ${event.paymentReference} LIMIT 1`);
    if (id) return id;
  }
  if (event.gatewayCustomerId) {
    return db.maybeOneFirst(sql.type(z.object({ id: z.string() }))`
      SELECT s.id FROM subscriptions s JOIN customers c ON c.id = s.customer_id
      WHERE c.stripe_customer_id = ${event.gatewayCustomerId} AND s.status NOT IN ('canceled', 'unpaid')
      ORDER BY s.created_at DESC LIMIT 1`);
  }
  return null;
}
