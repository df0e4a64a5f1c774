// Disputes recorded on the payments they are about, from the gateways' webhooks. Applying an
// event is idempotent and order-proof (domain/dispute-ledger.ts decides); a lost dispute's ledger
// entry is posted in the same transaction as the state that says it was lost.
import { sql, type CommonQueryMethods, type DatabasePool } from 'slonik';
import { z } from 'zod';
import {
  applyDisputeEvent,
  type DisputedPayment,
  type DisputeEvent,
  type DisputeJournalEntry,
  type DisputeRecord,
  type DisputeStatus,
} from '../domain/dispute-ledger';
import type { JournalEntry } from '../domain/ledger';
import { isCurrency, type Currency } from '../domain/money';
import { postJournalEntry } from './ledger';

const disputeRow = z.object({
  id: z.string(),
  gateway: z.enum(['stripe', 'paypal']),
  payment_reference: z.string().nullable(),
  invoice_id: z.string().nullable(),
  status: z.enum(['open', 'won', 'lost']),
  gateway_status: z.string().nullable(),
  reason: z.string().nullable(),
  currency: z.string().nullable(),
  amount: z.number().nullable(),
  fee: z.number(),
  opened_at: z.string(),
  closed_at: z.string().nullable(),
  last_event_at: z.string(),
});

function toRecord(row: z.infer<typeof disputeRow>): DisputeRecord {
  return {
    id: row.id,
    gateway: row.gateway,
    paymentReference: row.payment_reference,
    invoiceId: row.invoice_id,
    status: row.status,
    gatewayStatus: row.gateway_status,
    reason: row.reason,
    amount: row.amount,
    currency: row.currency !== null && isCurrency(row.currency) ? row.currency : null,
    fee: row.fee,
    openedAt: row.opened_at,
    closedAt: row.closed_at,
    lastEventAt: row.last_event_at,
  };
}

const DISPUTE_COLUMNS = sql.fragment`
  id, gateway, payment_reference, invoice_id, status, gateway_status, reason, currency::text AS currency, amount, fee,
  opened_at, closed_at, last_event_at`;

export async function findDispute(db: CommonQueryMethods, disputeId: string): Promise<DisputeRecord | null> {
  const row = await db.maybeOne(sql.type(disputeRow)`SELECT ${DISPUTE_COLUMNS} FROM disputes WHERE id = ${disputeId}`);
  return row ? toRecord(row) : null;
}

export async function listInvoiceDisputes(db: CommonQueryMethods, invoiceId: string): Promise<readonly DisputeRecord[]> {
  const rows = await db.any(sql.type(disputeRow)`
    SELECT ${DISPUTE_COLUMNS} FROM disputes WHERE invoice_id = ${invoiceId} ORDER BY opened_at, id`);
  return rows.map(toRecord);
}

const paymentRow = z.object({ invoice_id: z.string(), amount: z.number(), currency: z.string() });

/** Our own record of the disputed payment: a succeeded attempt under that gateway reference. */
async function disputedPayment(db: CommonQueryMethods, event: DisputeEvent): Promise<DisputedPayment | null> {
  if (event.paymentReference === null) return null;
  const row = await db.maybeOne(sql.type(paymentRow)`
    SELECT invoice_id, amount, currency::text AS currency FROM payment_attempts
    WHERE gateway_reference = ${event.paymentReference} AND gateway = ${event.gateway} AND outcome = 'succeeded'
    ORDER BY created_at LIMIT 1`);
  if (!row || !isCurrency(row.currency)) return null;
  return { invoiceId: row.invoice_id, amount: row.amount, currency: row.currency as Currency };
}

async function invoiceExists(db: CommonQueryMethods, invoiceId: string | null): Promise<boolean> {
  if (invoiceId === null) return false;
  return (await db.maybeOneFirst(sql.type(z.object({ id: z.string() }))`SELECT id FROM invoices WHERE id = ${invoiceId}`)) !== null;
}

// ledger_lines.account and ledger_entries.kind are text; domain/ledger.ts's Account and
// JournalEntryKind unions do not name the dispute accounts yet, hence the one widening here.
const asJournalEntry = (entry: DisputeJournalEntry): JournalEntry => entry as unknown as JournalEntry;

export interface RecordedDispute {
  /** False for an event older than one already applied (it changes nothing). */
  readonly applied: boolean;
  readonly dispute: DisputeRecord;
  /** Ids of the ledger entries this event posted (none on a repeat). */
  readonly postedEntries: readonly string[];
  /** Set when a lost dispute could not be booked; for the operator's log. */
  readonly unbooked: string | null;
}

/**
 * Records what a gateway webhook says about a dispute. Call it for every verified dispute event,
 * duplicates included: a repeat changes nothing and posts nothing, an older event than the last
 * applied is ignored, and a loss is booked (once) with the state that says it was lost.
 */
export async function recordDisputeEvent(pool: DatabasePool, event: DisputeEvent): Promise<RecordedDispute> {
  return pool.transaction(async (tx) => {
    // Serialises events of one dispute, the first one too (no row to lock yet).
    await tx.query(sql.unsafe`SELECT pg_advisory_xact_lock(hashtext(${`dispute:${event.disputeId}`}))`);
    const current = await findDispute(tx, event.disputeId);
    const payment = await disputedPayment(tx, event);
    // The invoice our own payment record names wins; a gateway's invoice id only if we issued it.
    const invoiceId = payment?.invoiceId ?? ((await invoiceExists(tx, event.invoiceId)) ? event.invoiceId : null);
    const application = applyDisputeEvent(current, { ...event, invoiceId }, payment);
    if (!application.applied) {
      if (current && application.record.openedAt !== current.openedAt) {
        await tx.query(sql.unsafe`
          UPDATE disputes SET opened_at = ${application.record.openedAt}::timestamptz, updated_at = now() WHERE id = ${current.id}`);
      }
      return { applied: false, dispute: application.record, postedEntries: [], unbooked: null };
    }

    const d = application.record;
    await tx.query(sql.unsafe`
      INSERT INTO disputes (id, gateway, payment_reference, invoice_id, status, gateway_status, reason, currency, amount, fee,
                            opened_at, closed_at, last_event_at)
      VALUES (${d.id}, ${d.gateway}, ${d.paymentReference}, ${d.invoiceId}, ${d.status}, ${d.gatewayStatus}, ${d.reason},
              ${d.currency}, ${d.amount}, ${d.fee}, ${d.openedAt}::timestamptz, ${d.closedAt}::timestamptz,
              ${d.lastEventAt}::timestamptz)
      ON CONFLICT (id) DO UPDATE SET
        payment_reference = EXCLUDED.payment_reference, invoice_id = EXCLUDED.invoice_id, status = EXCLUDED.status,
        gateway_status = EXCLUDED.gateway_status, reason = EXCLUDED.reason, currency = EXCLUDED.currency,
        amount = EXCLUDED.amount, fee = EXCLUDED.fee, opened_at = EXCLUDED.opened_at, closed_at = EXCLUDED.closed_at,
        last_event_at = EXCLUDED.last_event_at, updated_at = now()`);
    const postedEntries: string[] = [];
    for (const entry of application.entries) {
      if (await postJournalEntry(tx, asJournalEntry(entry))) postedEntries.push(entry.id);
    }
    return { applied: true, dispute: d, postedEntries, unbooked: application.unbooked };
  });
}

export type { DisputeEvent, DisputeRecord, DisputeStatus };
