// Side effects the subscription workflow needs beyond charging: settling an invoice that owes
// nothing, and writing off one that dunning gave up on. Idempotent, like every activity.
import type { DatabasePool } from 'slonik';
import { sql } from 'slonik';
import { z } from 'zod';
import { postJournalEntry } from '../db/ledger';
import { markInvoicePaid } from '../db/invoices';
import { writeOffEntry } from '../domain/ledger';
import type { Currency } from '../domain/money';

export function createSubscriptionActivities({ pool }: { pool: DatabasePool }) {
  return {
    /** An invoice whose credits cover it (total 0): paid without a charge. */
    async settleInvoiceWithoutCharge(input: { invoiceId: string; at: string }): Promise<void> {
      await markInvoicePaid(pool, input.invoiceId, 0, input.at);
    },

    /**
     * Dunning ended without payment: the invoice becomes uncollectible and what is still owed on
     * it (after any payment or credit note) goes to bad debt, once (the entry id is the invoice's).
     */
    async writeOffInvoice(input: { invoiceId: string; currency: Currency; at: string; reason: string }): Promise<void> {
      await pool.transaction(async (tx) => {
        const owed = await tx.maybeOneFirst(sql.type(z.object({ owed: z.number() }))`
          UPDATE invoices SET status = 'uncollectible' WHERE id = ${input.invoiceId} AND status = 'open'
          RETURNING (total - amount_paid - amount_credited - amount_credit_applied)::int8 AS owed`);
        if (owed === null || owed <= 0) return;
        await postJournalEntry(tx, writeOffEntry({ id: input.invoiceId, invoiceId: input.invoiceId, currency: input.currency, amount: owed, at: input.at }));
      });
    },
  };
}

export type SubscriptionActivities = ReturnType<typeof createSubscriptionActivities>;
