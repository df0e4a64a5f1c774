import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';

/**
 * The next gap-free invoice number of a legal entity, e.g. "DB-000042". Call it inside the
 * transaction that inserts the invoice: the counter row's lock serialises numbering, and a
 * rollback gives the number back, so numbers never skip.
 */
export async function allocateInvoiceNumber(tx: CommonQueryMethods, legalEntity: string): Promise<string> {
  const counter = await tx.one(sql.type(z.object({ prefix: z.string(), number: z.number() }))`
    UPDATE invoice_number_counters SET next_number = next_number + 1
    WHERE legal_entity = ${legalEntity}
    RETURNING prefix, next_number - 1 AS number`);
  return `${counter.prefix}-${String(counter.number).padStart(6, '0')}`;
}
