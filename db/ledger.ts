import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { assertBalanced, type JournalEntry } from '../domain/ledger';

/** Posts an entry once: the entry id names the business event, so a repeat is a no-op. */
export async function postJournalEntry(tx: CommonQueryMethods, entry: JournalEntry): Promise<boolean> {
  assertBalanced(entry);
  const inserted = await tx.maybeOne(sql.unsafe`
    INSERT INTO ledger_entries (id, kind, currency, invoice_id, occurred_at)
    VALUES (${entry.id}, ${entry.kind}, ${entry.currency}, ${entry.invoiceId}, ${entry.occurredAt}::timestamptz)
    ON CONFLICT (id) DO NOTHING RETURNING id`);
  if (!inserted) return false;
  for (const [position, line] of entry.lines.entries()) {
    await tx.query(sql.unsafe`
      INSERT INTO ledger_lines (entry_id, position, account, debit, credit)
      VALUES (${entry.id}, ${position}, ${line.account}, ${line.debit}, ${line.credit})`);
  }
  return true;
}

const balanceRow = z.object({ currency: z.string(), debits: z.number(), credits: z.number() });

/** Sum of debits and credits per currency over the whole ledger (or one invoice's entries). */
export async function ledgerTotals(db: CommonQueryMethods, invoiceIds?: readonly string[]) {
  const filter = invoiceIds ? sql.fragment`WHERE e.invoice_id = ANY(${sql.array(invoiceIds, 'text')})` : sql.fragment``;
  return db.any(sql.type(balanceRow)`
    SELECT e.currency, coalesce(sum(l.debit), 0)::int8 AS debits, coalesce(sum(l.credit), 0)::int8 AS credits
    FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id ${filter}
    GROUP BY e.currency ORDER BY e.currency`);
}

const accountRow = z.object({ account: z.string(), balance: z.number() });

/** Debit-positive balance of each account touched by the given invoices. */
export async function accountBalances(db: CommonQueryMethods, invoiceIds: readonly string[]) {
  return db.any(sql.type(accountRow)`
    SELECT l.account, (sum(l.debit) - sum(l.credit))::int8 AS balance
    FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
    WHERE e.invoice_id = ANY(${sql.array(invoiceIds, 'text')})
    GROUP BY l.account ORDER BY l.account`);
}
