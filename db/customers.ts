import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';

export const customerRow = z.object({
  id: z.string(),
  email: z.string(),
  name: z.string(),
  country: z.string().nullable(),
  vat_id: z.string().nullable(),
  stripe_customer_id: z.string().nullable(),
  created_at: z.string(),
});
export type CustomerRow = z.infer<typeof customerRow>;

export async function insertCustomer(
  db: CommonQueryMethods,
  customer: { id: string; email: string; name: string; country: string | null; vatId?: string | null },
): Promise<CustomerRow> {
  return db.one(sql.type(customerRow)`
    INSERT INTO customers (id, email, name, country, vat_id)
    VALUES (${customer.id}, ${customer.email}, ${customer.name}, ${customer.country}, ${customer.vatId ?? null})
    RETURNING id, email, name, country, vat_id, stripe_customer_id, created_at`);
}

export async function findCustomer(db: CommonQueryMethods, id: string): Promise<CustomerRow | null> {
  return db.maybeOne(sql.type(customerRow)`
    SELECT id, email, name, country, vat_id, stripe_customer_id, created_at FROM customers WHERE id = ${id}`);
}

export async function setStripeCustomerId(db: CommonQueryMethods, id: string, stripeCustomerId: string): Promise<void> {
  await db.query(sql.unsafe`
    UPDATE customers SET stripe_customer_id = ${stripeCustomerId}
    WHERE id = ${id} AND stripe_customer_id IS NULL`);
}
