// The reconcile command against real PostgreSQL: after enterprise invoices are issued, part
// paid, paid and voided by the real activities, the whole ledger reconciles; a scratch schema
// holding a deliberately broken ledger (no triggers there to refuse it) is reported line by line.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { sql } from 'slonik';
import { createEnterpriseActivities } from '../../activities/enterprise';
import { issueCredit } from '../../db/credit-notes';
import type { IssuedEnterpriseInvoice } from '../../db/enterprise';
import type { DatabasePool } from '../../db/pool';
import { formatReconcileReport, reconcileLedgerSnapshot } from '../../db/reconcile';
import { buildContractInvoice, type EnterpriseContract } from '../../domain/enterprise';
import { invoiceTotals } from '../../domain/invoice-totals';
import { taxTreatmentFor } from '../../domain/tax';
import type { Gateway } from '../../gateways/gateway';
import { createTestCustomer, requiredEnv, testPool } from '../support/environment';

const ROOT = resolve(__dirname, '../..');
let pool: DatabasePool;

beforeAll(async () => {
  pool = await testPool();
});
afterAll(async () => {
  await pool?.end();
});

// Bank transfers and voids never reach a gateway.
const noGateway: Gateway = {
  name: 'stripe',
  createCustomer: () => Promise.reject(new Error('no gateway in this test')),
  charge: () => Promise.reject(new Error('no gateway in this test')),
  refund: () => Promise.reject(new Error('no gateway in this test')),
  findCharge: () => Promise.reject(new Error('no gateway in this test')),
};

function runReconcile(...args: string[]) {
  return spawnSync(process.execPath, ['-r', '@swc-node/register', 'scripts/reconcile.ts', ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, DATABASE_URL: requiredEnv('DATABASE_URL') },
  });
}

async function issue(activities: ReturnType<typeof createEnterpriseActivities>, unitAmount: number, country: string): Promise<IssuedEnterpriseInvoice> {
  const customerId = await createTestCustomer(pool, 'Initech Academy');
  const contract: EnterpriseContract = {
    id: `ctr_r${randomUUID().replace(/-/g, '').slice(0, 20)}`,
    customerId,
    currency: 'EUR',
    startsAt: '2045-01-10T10:00:00.000Z',
    termMonths: 6,
    billing: 'upfront',
    lineItems: [{ id: 'seats', description: 'Coaching seats', unitAmount, quantity: 3, unit: 'seat' }],
  };
  const invoice = buildContractInvoice(contract, 0, taxTreatmentFor({ country }));
  const issued: IssuedEnterpriseInvoice = {
    invoice,
    tax: invoiceTotals(invoice.lines).tax,
    contractId: contract.id,
    workflowId: `enterprise-invoice-${invoice.id}`,
    termMonths: contract.termMonths,
    netDays: 30,
    taxCountry: country,
    units: ['seat'],
  };
  await activities.issueEnterpriseInvoice(issued);
  await activities.issueEnterpriseInvoice(issued); // a retried activity: no second invoice or entry
  return issued;
}

describe('ledger reconciliation', () => {
  it('passes after enterprise invoices are issued, part paid, paid and voided', async () => {
    const activities = createEnterpriseActivities({ pool, gateway: noGateway });
    // 3 x 33,333 = 99,999 + VAT 21% (NL) 20,999.79 -> 21,000 = 120,999.
    const partPaid = await issue(activities, 33_333, 'NL');
    expect(partPaid.invoice.total).toBe(120_999);
    const payment = {
      paymentId: `${partPaid.invoice.id}:payment-1`,
      invoiceId: partPaid.invoice.id,
      reference: 'NL-TRANSFER-1',
      method: 'bank_transfer' as const,
      amount: 50_000,
      currency: 'EUR' as const,
      receivedAt: '2045-01-20T10:00:00.000Z',
      gateway: null,
      gatewayReference: null,
    };
    expect(await activities.recordEnterprisePayment(payment)).toEqual({ amountPaid: 50_000, status: 'open' });
    expect(await activities.recordEnterprisePayment(payment)).toEqual({ amountPaid: 50_000, status: 'open' }); // booked once

    const paid = await issue(activities, 10_000, 'US');
    expect(
      await activities.recordEnterprisePayment({ ...payment, paymentId: `${paid.invoice.id}:payment-1`, invoiceId: paid.invoice.id, amount: 30_000 }),
    ).toEqual({ amountPaid: 30_000, status: 'paid' });

    const voided = await issue(activities, 20_000, 'DE');
    await activities.voidEnterpriseInvoice({ invoiceId: voided.invoice.id, reason: 'test', at: '2045-01-11T10:00:00.000Z' });

    const report = await reconcileLedgerSnapshot(pool);
    if (!report.ok) console.error(formatReconcileReport(report));
    expect(report.ok).toBe(true);
    expect(report.invoicesChecked).toBeGreaterThanOrEqual(3);
    expect(report.currencies.find((c) => c.currency === 'EUR')).toBeDefined();

    const run = runReconcile();
    expect(run.stdout).toContain('ledger reconciliation: OK');
    expect(run.status).toBe(0);
  });

  it('a credit note on an enterprise invoice lowers what a payment may settle, and such an invoice is not voided', async () => {
    const activities = createEnterpriseActivities({ pool, gateway: noGateway });
    // 3 seats x 10,000 (EUR contract, no tax for a US customer): 30,000; 5,000 credited leaves 25,000 owed.
    const credited = await issue(activities, 10_000, 'US');
    const note = await pool.transaction((tx) =>
      issueCredit(tx, { id: `cn_${credited.invoice.id}`, invoiceId: credited.invoice.id, amount: 5_000, reason: 'service credit', at: '2045-01-12T10:00:00.000Z' }),
    );
    expect(note.ok).toBe(true);
    const payment = {
      paymentId: `${credited.invoice.id}:payment-1`,
      invoiceId: credited.invoice.id,
      reference: 'US-WIRE-1',
      method: 'bank_transfer' as const,
      amount: 30_000,
      currency: 'EUR' as const,
      receivedAt: '2045-01-20T10:00:00.000Z',
      gateway: null,
      gatewayReference: null,
    };
    await expect(activities.recordEnterprisePayment(payment)).rejects.toThrow(`payment of 30000 exceeds the 25000 still owed on invoice ${credited.invoice.id}`);
    expect(await activities.recordEnterprisePayment({ ...payment, paymentId: `${credited.invoice.id}:payment-2`, amount: 25_000 })).toEqual({ amountPaid: 25_000, status: 'paid' });

    const partlyCredited = await issue(activities, 10_000, 'US');
    await pool.transaction((tx) => issueCredit(tx, { id: `cn_${partlyCredited.invoice.id}`, invoiceId: partlyCredited.invoice.id, amount: 1_000, reason: 'service credit', at: '2045-01-12T10:00:00.000Z' }));
    await expect(activities.voidEnterpriseInvoice({ invoiceId: partlyCredited.invoice.id, reason: 'test', at: '2045-01-13T10:00:00.000Z' })).rejects.toThrow(
      `invoice ${partlyCredited.invoice.id} has 1000 settled by credit: it cannot be voided; issue a credit note`,
    );
    const report = await reconcileLedgerSnapshot(pool);
    if (!report.ok) console.error(formatReconcileReport(report));
    expect(report.ok).toBe(true);
  });

  it('reports an unbalanced ledger and a receivable that differs from the open balance, and exits 1', async () => {
    const schema = `reconcile_scratch_${randomUUID().replace(/-/g, '').slice(0, 12)}`;
    const s = sql.identifier([schema]);
    await pool.query(sql.unsafe`CREATE SCHEMA ${s}`);
    try {
      // Copies of the tables without the triggers and foreign keys that guard the real ones.
      for (const table of ['invoices', 'ledger_entries', 'ledger_lines']) {
        await pool.query(sql.unsafe`CREATE TABLE ${sql.identifier([schema, table])} (LIKE ${sql.identifier(['public', table])} INCLUDING DEFAULTS)`);
      }
      await pool.query(sql.unsafe`
        INSERT INTO ${sql.identifier([schema, 'invoices'])} (id, number, legal_entity, customer_id, status, currency, subtotal, total, amount_paid, issued_at, due_at)
        VALUES ('in_good_0000', 'DB-900001', 'default', 'cus_x', 'paid', 'USD', 5000, 5000, 5000, now(), now()),
               ('in_bad_0000', 'DB-900002', 'default', 'cus_x', 'open', 'USD', 10000, 10000, 2500, now(), now())`);
      await pool.query(sql.unsafe`
        INSERT INTO ${sql.identifier([schema, 'ledger_entries'])} (id, kind, currency, invoice_id, occurred_at)
        VALUES ('je_invoice_in_good_0000', 'invoice_issued', 'USD', 'in_good_0000', now()),
               ('je_payment_in_good_0000:attempt-1', 'payment_received', 'USD', 'in_good_0000', now()),
               ('je_invoice_in_bad_0000', 'invoice_issued', 'USD', 'in_bad_0000', now()),
               ('je_payment_in_bad_0000:payment-1', 'payment_received', 'USD', 'in_bad_0000', now()),
               ('je_empty', 'payment_received', 'USD', NULL, now())`);
      await pool.query(sql.unsafe`
        INSERT INTO ${sql.identifier([schema, 'ledger_lines'])} (entry_id, position, account, debit, credit)
        VALUES ('je_invoice_in_good_0000', 0, 'accounts_receivable', 5000, 0),
               ('je_invoice_in_good_0000', 1, 'revenue', 0, 5000),
               ('je_payment_in_good_0000:attempt-1', 0, 'cash:stripe', 5000, 0),
               ('je_payment_in_good_0000:attempt-1', 1, 'accounts_receivable', 0, 5000),
               ('je_invoice_in_bad_0000', 0, 'accounts_receivable', 10000, 0),
               ('je_invoice_in_bad_0000', 1, 'revenue', 0, 10000),
               -- 2500 received, but only 2000 taken off the receivable: off by 500 both ways.
               ('je_payment_in_bad_0000:payment-1', 0, 'cash:bank', 2500, 0),
               ('je_payment_in_bad_0000:payment-1', 1, 'accounts_receivable', 0, 2000)`);

      const report = await reconcileLedgerSnapshot(pool, { schema });
      expect(report).toEqual({
        ok: false,
        currencies: [{ currency: 'USD', debits: 22_500, credits: 22_000 }],
        unbalancedCurrencies: [{ currency: 'USD', debits: 22_500, credits: 22_000 }],
        entriesChecked: 5,
        unbalancedEntries: [
          { entryId: 'je_empty', currency: 'USD', debits: 0, credits: 0, lines: 0 },
          { entryId: 'je_payment_in_bad_0000:payment-1', currency: 'USD', debits: 2500, credits: 2000, lines: 2 },
        ],
        invoicesChecked: 2,
        receivableMismatches: [{ invoiceId: 'in_bad_0000', number: 'DB-900002', status: 'open', currency: 'USD', expected: 7500, actual: 8000 }],
      });

      const run = runReconcile('--schema', schema);
      expect(run.status).toBe(1);
      expect(run.stdout).toContain('ledger reconciliation: MISMATCH');
      expect(run.stdout).toContain('USD: debits 22500, credits 22000  <- differ by 500');
      expect(run.stdout).toContain('entry je_payment_in_bad_0000:payment-1 (USD) does not balance: debits 2500, credits 2000');
      expect(run.stdout).toContain('entry je_empty (USD) has no lines');
      expect(run.stdout).toContain('invoice DB-900002 (in_bad_0000, open, USD): accounts_receivable 8000, but 7500 is owed');
    } finally {
      await pool.query(sql.unsafe`DROP SCHEMA ${s} CASCADE`);
    }
  });
});
