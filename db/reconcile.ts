// Reconciliation of the books: proves, over the whole ledger, that
//   1. debits equal credits in every currency,
//   2. every journal entry balances on its own (and has lines),
//   3. each invoice's accounts_receivable balance equals what is still owed on it: total minus
//      amount paid minus amount credited (credit notes) for an open invoice, nothing for a paid,
//      void or uncollectible one. Refunds and credit notes on paid invoices leave nothing owed:
//      a refund's credit note and its cash refund cancel on the receivable, and a credit kept as
//      the customer's balance moves to customer_credit.
// Read from one snapshot (REPEATABLE READ), so postings committed meanwhile cannot make a
// consistent ledger look inconsistent.
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';

export interface CurrencyTotals {
  readonly currency: string;
  readonly debits: number;
  readonly credits: number;
}

export interface UnbalancedEntry {
  readonly entryId: string;
  readonly currency: string;
  readonly debits: number;
  readonly credits: number;
  readonly lines: number;
}

export interface ReceivableMismatch {
  readonly invoiceId: string;
  readonly number: string;
  readonly status: string;
  readonly currency: string;
  /** What is still owed by the invoice table: total - amount_paid - amount_credited - amount_credit_applied (0 once settled). */
  readonly expected: number;
  /** The accounts_receivable balance (debits - credits) of the invoice's ledger entries. */
  readonly actual: number;
}

export interface ReconcileReport {
  readonly ok: boolean;
  readonly currencies: readonly CurrencyTotals[];
  readonly unbalancedCurrencies: readonly CurrencyTotals[];
  readonly entriesChecked: number;
  readonly unbalancedEntries: readonly UnbalancedEntry[];
  readonly invoicesChecked: number;
  readonly receivableMismatches: readonly ReceivableMismatch[];
}

const currencyRow = z.object({ currency: z.string(), debits: z.number(), credits: z.number() });
const entryRow = z.object({ entry_id: z.string(), currency: z.string(), debits: z.number(), credits: z.number(), lines: z.number() });
const receivableRow = z.object({
  invoice_id: z.string(),
  number: z.string(),
  status: z.string(),
  currency: z.string(),
  expected: z.number(),
  actual: z.number(),
});

/** Runs the checks with `db` as it is (its search_path, its transaction). */
export async function reconcileLedger(db: CommonQueryMethods): Promise<ReconcileReport> {
  const currencies = await db.any(sql.type(currencyRow)`
    SELECT e.currency::text AS currency, coalesce(sum(l.debit), 0)::int8 AS debits, coalesce(sum(l.credit), 0)::int8 AS credits
    FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
    GROUP BY e.currency ORDER BY e.currency`);

  const entriesChecked = await db.oneFirst(sql.type(z.object({ count: z.number() }))`
    SELECT count(*)::int8 AS count FROM ledger_entries`);
  const unbalancedEntries = await db.any(sql.type(entryRow)`
    SELECT e.id AS entry_id, e.currency::text AS currency, coalesce(sum(l.debit), 0)::int8 AS debits,
           coalesce(sum(l.credit), 0)::int8 AS credits, count(l.entry_id)::int8 AS lines
    FROM ledger_entries e LEFT JOIN ledger_lines l ON l.entry_id = e.id
    GROUP BY e.id, e.currency
    HAVING coalesce(sum(l.debit), 0) <> coalesce(sum(l.credit), 0) OR count(l.entry_id) = 0
    ORDER BY e.id`);

  const invoicesChecked = await db.oneFirst(sql.type(z.object({ count: z.number() }))`
    SELECT count(*)::int8 AS count FROM invoices WHERE status IN ('open', 'paid', 'void', 'uncollectible')`);
  const receivableMismatches = await db.any(sql.type(receivableRow)`
    WITH receivable AS (
      SELECT e.invoice_id, sum(l.debit - l.credit)::int8 AS balance
      FROM ledger_lines l JOIN ledger_entries e ON e.id = l.entry_id
      WHERE l.account = 'accounts_receivable' AND e.invoice_id IS NOT NULL
      GROUP BY e.invoice_id
    ), expected AS (
      SELECT i.id, i.number, i.status, i.currency::text AS currency,
             (CASE WHEN i.status = 'open' THEN i.total - i.amount_paid - i.amount_credited - i.amount_credit_applied ELSE 0 END)::int8 AS expected
      FROM invoices i WHERE i.status IN ('open', 'paid', 'void', 'uncollectible')
    )
    SELECT x.id AS invoice_id, x.number, x.status, x.currency, x.expected, coalesce(r.balance, 0)::int8 AS actual
    FROM expected x LEFT JOIN receivable r ON r.invoice_id = x.id
    WHERE x.expected <> coalesce(r.balance, 0)
    ORDER BY x.id`);

  const unbalancedCurrencies = currencies.filter((c) => c.debits !== c.credits);
  return {
    ok: unbalancedCurrencies.length === 0 && unbalancedEntries.length === 0 && receivableMismatches.length === 0,
    currencies,
    unbalancedCurrencies,
    entriesChecked,
    unbalancedEntries: unbalancedEntries.map((e) => ({ entryId: e.entry_id, currency: e.currency, debits: e.debits, credits: e.credits, lines: e.lines })),
    invoicesChecked,
    receivableMismatches: receivableMismatches.map((r) => ({
      invoiceId: r.invoice_id,
      number: r.number,
      status: r.status,
      currency: r.currency,
      expected: r.expected,
      actual: r.actual,
    })),
  };
}

/**
 * Runs the checks in one read-only REPEATABLE READ snapshot. `schema` reads the ledger and
 * invoice tables of another schema (a scratch copy, a restored backup).
 */
export async function reconcileLedgerSnapshot(pool: DatabasePool, options: { schema?: string } = {}): Promise<ReconcileReport> {
  return pool.transaction(async (tx) => {
    await tx.query(sql.unsafe`SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY`);
    if (options.schema) await tx.query(sql.unsafe`SELECT set_config('search_path', ${options.schema}, true)`);
    return reconcileLedger(tx);
  });
}

/** A plain-text report, one finding a line. */
export function formatReconcileReport(report: ReconcileReport): string {
  const out: string[] = [];
  out.push(`ledger reconciliation: ${report.ok ? 'OK' : 'MISMATCH'}`);
  out.push(`  ${report.entriesChecked} journal entries, ${report.invoicesChecked} invoices checked`);
  if (report.currencies.length === 0) out.push('  the ledger is empty');
  for (const c of report.currencies) {
    out.push(`  ${c.currency}: debits ${c.debits}, credits ${c.credits}${c.debits === c.credits ? '' : `  <- differ by ${c.debits - c.credits}`}`);
  }
  for (const e of report.unbalancedEntries) {
    out.push(
      e.lines === 0
        ? `  entry ${e.entryId} (${e.currency}) has no lines`
        : `  entry ${e.entryId} (${e.currency}) does not balance: debits ${e.debits}, credits ${e.credits}`,
    );
  }
  for (const m of report.receivableMismatches) {
    out.push(
      `  invoice ${m.number} (${m.invoiceId}, ${m.status}, ${m.currency}): accounts_receivable ${m.actual}, but ${m.expected} is owed (total - amount paid - amount credited - customer credit applied)`,
    );
  }
  return out.join('\n');
}
