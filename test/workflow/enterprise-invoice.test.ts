// The enterprise invoice workflow (NET 30) under Temporal's time-skipping test server, with the
// real activities: PostgreSQL for the books and the outbox, the Stripe simulator (validated by
// stripe-mock) for card payments. Weeks pass in seconds; every date and cent is worked out by hand.
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { sql } from 'slonik';
import { z } from 'zod';
import { createEnterpriseActivities, DEFAULT_OPS_RECIPIENT } from '../../activities/enterprise';
import { findInvoiceDetail } from '../../db/enterprise';
import { listNotices } from '../../db/notifications';
import { accountBalances, ledgerTotals } from '../../db/ledger';
import type { DatabasePool } from '../../db/pool';
import type { ContractLineItem, EnterpriseContract } from '../../domain/enterprise';
import { taxTreatmentFor, type TaxTreatment } from '../../domain/tax';
import { createStripeGateway } from '../../gateways/stripe';
import { enterpriseInvoiceWorkflow } from '../../workflows/enterprise-invoice';
import {
  enterpriseInvoiceWorkflowId,
  getEnterpriseInvoice,
  recordPayment,
  voidInvoice,
  type RecordPaymentRequest,
} from '../../workflows/enterprise-messages';
import type { StripeSimulator } from '../peers/stripe-simulator';
import {
  createTestCustomer,
  uniqueTaskQueue,
  waitFor,
} from '../support/environment';
import { skipTo as skipToInstant, startTimeSkippingTestbed, type TimeSkippingTestbed } from '../support/time-skipping';

// One test server for the file: its clock only moves forward, so each test issues its invoice in
// a later year than the test before it. A plain client (not env.client) leaves the clock where
// skipTo put it, so every instant below is one the test chose.
let env: TestWorkflowEnvironment;
let pool: DatabasePool;
let simulator: StripeSimulator;
let bundle: WorkflowBundleWithSourceMap;
let client: Client;

let testbed: TimeSkippingTestbed;

beforeAll(async () => {
  testbed = await startTimeSkippingTestbed();
  ({ env, pool, simulator, bundle, client } = testbed);
});

afterAll(async () => {
  await testbed?.teardown();
});

const started: Handle[] = [];

/**
 * Runs `body` with a worker on a fresh task queue. Whatever happens, the invoices it started
 * are finished (terminated if a failed assertion left them open) before the worker stops: an
 * open workflow whose timers fire with no worker would stop the test server's clock for the
 * next test.
 */
async function withWorker(name: string, body: (taskQueue: string) => Promise<void>): Promise<void> {
  const taskQueue = uniqueTaskQueue(name);
  const worker = await newWorker(taskQueue);
  await worker.runUntil(async () => {
    try {
      await body(taskQueue);
    } finally {
      for (const handle of started.splice(0)) {
        const { status } = await handle.describe();
        if (status.name === 'RUNNING') await handle.terminate('test over');
      }
    }
  });
}

async function newWorker(taskQueue: string): Promise<Worker> {
  const gateway = createStripeGateway({ apiKey: 'sk_test_enterprise', host: '127.0.0.1', port: simulator.port, protocol: 'http' });
  return Worker.create({
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: bundle,
    activities: createEnterpriseActivities({ pool, gateway }),
  });
}

function skipTo(instant: string): Promise<void> {
  return skipToInstant(testbed.clock, instant, started);
}

/** Lets the worker run whatever is due (a wrongly early timer would show up in this time). */
const settle = () => new Promise((resolve) => setTimeout(resolve, 750));

type Handle = WorkflowHandle<typeof enterpriseInvoiceWorkflow>;

async function issueInvoice(
  taskQueue: string,
  args: { issuedAt: string; lineItems: ContractLineItem[]; tax?: TaxTreatment; customerName?: string },
): Promise<{ handle: Handle; invoiceId: string; customerId: string }> {
  await skipTo(args.issuedAt);
  const customerId = await createTestCustomer(pool, args.customerName ?? 'Acme Training Ltd');
  const contractId = `ctr_t${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  const contract: EnterpriseContract = {
    id: contractId,
    customerId,
    currency: 'USD',
    startsAt: args.issuedAt,
    termMonths: 12,
    billing: 'upfront',
    lineItems: args.lineItems,
  };
  const invoiceId = `in_${contractId.slice(4)}_0000`;
  const handle = await client.workflow.start(enterpriseInvoiceWorkflow, {
    workflowId: enterpriseInvoiceWorkflowId(invoiceId),
    taskQueue,
    args: [{ contract, ...(args.tax ? { tax: args.tax } : {}) }],
  });
  started.push(handle);
  await waitFor(async () => (await handle.query(getEnterpriseInvoice)).number, 'the invoice to be issued');
  return { handle, invoiceId, customerId };
}

async function noticesOf(invoiceId: string) {
  return (await listNotices(pool, { invoiceId })).map((n) => [n.kind, n.send_after]);
}

async function skipToAndWaitForNotices(instant: string, invoiceId: string, count: number) {
  await skipTo(instant);
  await waitFor(async () => (await listNotices(pool, { invoiceId })).length >= count, `${count} notices on ${invoiceId} at ${instant}`);
}

const pay = (handle: Handle, request: RecordPaymentRequest) => handle.executeUpdate(recordPayment, { args: [request] });

async function collectionStatus(invoiceId: string) {
  return pool.one(sql.type(z.object({ collection_status: z.string(), past_due_at: z.string().nullable() }))`
    SELECT collection_status, past_due_at FROM enterprise_invoices WHERE invoice_id = ${invoiceId}`);
}

describe('enterprise invoice workflow, NET 30 (time-skipping)', () => {
  it('reminds on the exact days, goes past_due with an ops alert the day after the due date, and completes when paid', async () => {
    await withWorker('enterprise-net30', async (taskQueue) => {
      // 12 seats x $1,250.00 + a workshop of $4,800.33, VAT 20% (GB):
      //   seats    1,500,000 + tax 300,000
      //   workshop   480,033 + tax  96,006.6 -> 96,007 (half away from zero, once per line)
      //   subtotal 1,980,033; tax 396,007; total 2,376,040 cents.
      const { handle, invoiceId } = await issueInvoice(taskQueue, {
        issuedAt: '2040-03-02T09:00:00.000Z',
        tax: taxTreatmentFor({ country: 'GB' }),
        lineItems: [
          { id: 'seats', description: 'Leadership training', unitAmount: 125_000, quantity: 12, unit: 'seat' },
          { id: 'workshop', description: 'On-site workshop', unitAmount: 480_033, quantity: 1, unit: 'item' },
        ],
      });
      const issued = await handle.query(getEnterpriseInvoice);
      expect(issued).toMatchObject({
        status: 'open',
        subtotal: 1_980_033,
        tax: 396_007,
        total: 2_376_040,
        amountDue: 2_376_040,
        issuedAt: '2040-03-02T09:00:00.000Z',
        dueAt: '2040-04-01T09:00:00.000Z', // NET 30: March has 31 days
      });
      expect(issued.number).toMatch(/^DB-\d{6}$/);
      expect(issued.reminderSchedule.map((r) => [r.kind, r.at])).toEqual([
        ['due_soon', '2040-03-25T09:00:00.000Z'],
        ['due_today', '2040-04-01T09:00:00.000Z'],
        ['overdue', '2040-04-08T09:00:00.000Z'],
        ['final_notice', '2040-04-15T09:00:00.000Z'],
      ]);

      const stored = await findInvoiceDetail(pool, invoiceId);
      expect(stored).toMatchObject({ number: issued.number, status: 'open', subtotal: 1_980_033, tax: 396_007, total: 2_376_040, amountPaid: 0 });
      expect(stored?.dueAt).toBe('2040-04-01T09:00:00.000Z');
      expect(stored?.lines.map((l) => [l.description, l.quantity, l.unit, l.unitAmount, l.amount, l.taxAmount, l.taxLabel])).toEqual([
        ['Leadership training (12 seats)', 12, 'seat', 125_000, 1_500_000, 300_000, 'VAT 20% (GB)'],
        ['On-site workshop', 1, 'item', 480_033, 480_033, 96_007, 'VAT 20% (GB)'],
      ]);
      expect(await accountBalances(pool, [invoiceId])).toEqual([
        { account: 'accounts_receivable', balance: 2_376_040 },
        { account: 'revenue', balance: -1_980_033 },
        { account: 'tax_payable', balance: -396_007 },
      ]);

      // Nothing a minute before due - 7 days; the reminder at that very instant.
      await skipTo('2040-03-25T08:59:00.000Z');
      await settle();
      expect(await noticesOf(invoiceId)).toEqual([]);
      await skipToAndWaitForNotices('2040-03-25T09:00:00.000Z', invoiceId, 1);
      expect(await noticesOf(invoiceId)).toEqual([['invoice_due_soon', '2040-03-25T09:00:00.000Z']]);

      await skipTo('2040-04-01T08:59:00.000Z');
      await settle();
      expect(await listNotices(pool, { invoiceId })).toHaveLength(1);
      await skipToAndWaitForNotices('2040-04-01T09:00:00.000Z', invoiceId, 2);
      const dueToday = (await listNotices(pool, { invoiceId }))[1]!;
      expect(dueToday).toMatchObject({ kind: 'invoice_due_today', send_after: '2040-04-01T09:00:00.000Z' });
      expect(dueToday.subject).toBe(`Invoice ${issued.number}: $23,760.40 is due today`);
      expect(dueToday.recipient).toMatch(/@example\.test$/);
      expect((await handle.query(getEnterpriseInvoice)).status).toBe('open');

      // Past due the day after the due date, to the instant: status, read model and ops alert.
      await skipTo('2040-04-02T08:59:00.000Z');
      await settle();
      expect((await handle.query(getEnterpriseInvoice)).status).toBe('open');
      await skipToAndWaitForNotices('2040-04-02T09:00:00.000Z', invoiceId, 3);
      const pastDue = await waitFor(async () => {
        const view = await handle.query(getEnterpriseInvoice);
        return view.status === 'past_due' ? view : null;
      }, 'past_due');
      expect(pastDue.pastDueAt).toBe('2040-04-02T09:00:00.000Z');
      const alert = (await listNotices(pool, { invoiceId }))[2]!;
      expect(alert).toMatchObject({ kind: 'ops_invoice_past_due', recipient: DEFAULT_OPS_RECIPIENT, send_after: '2040-04-02T09:00:00.000Z' });
      expect(alert.subject).toContain(`Invoice ${issued.number} is past due: $23,760.40`);
      expect(await waitFor(async () => {
        const row = await collectionStatus(invoiceId);
        return row.collection_status === 'past_due' ? row : null;
      }, 'the past_due read model')).toEqual({ collection_status: 'past_due', past_due_at: '2040-04-02T09:00:00.000Z' });

      await skipToAndWaitForNotices('2040-04-08T09:00:00.000Z', invoiceId, 4);
      await skipToAndWaitForNotices('2040-04-15T09:00:00.000Z', invoiceId, 5);
      expect(await noticesOf(invoiceId)).toEqual([
        ['invoice_due_soon', '2040-03-25T09:00:00.000Z'],
        ['invoice_due_today', '2040-04-01T09:00:00.000Z'],
        ['ops_invoice_past_due', '2040-04-02T09:00:00.000Z'],
        ['invoice_overdue', '2040-04-08T09:00:00.000Z'],
        ['invoice_final_notice', '2040-04-15T09:00:00.000Z'],
      ]);
      expect((await handle.query(getEnterpriseInvoice)).remindersSent).toEqual([
        { kind: 'due_soon', at: '2040-03-25T09:00:00.000Z' },
        { kind: 'due_today', at: '2040-04-01T09:00:00.000Z' },
        { kind: 'overdue', at: '2040-04-08T09:00:00.000Z' },
        { kind: 'final_notice', at: '2040-04-15T09:00:00.000Z' },
      ]);

      // Paid late, in two transfers: a part payment leaves it past due; the rest settles it.
      await skipTo('2040-04-20T10:00:00.000Z');
      const part = await pay(handle, { amount: 1_000_000, method: 'bank_transfer', reference: 'ACME-WIRE-1', receivedAt: '2040-04-19T16:30:00Z' });
      expect(part).toMatchObject({ status: 'past_due', amountPaid: 1_000_000, amountDue: 1_376_040 });
      const rest = await pay(handle, { amount: 1_376_040, method: 'bank_transfer', reference: 'ACME-WIRE-2' });
      expect(rest).toMatchObject({ status: 'paid', amountPaid: 2_376_040, amountDue: 0 });
      expect(rest.paidAt?.slice(0, 16)).toBe('2040-04-20T10:00'); // received now, on the workflow clock
      const final = await handle.result();
      expect(final.status).toBe('paid');
      expect(final.payments.map((p) => [p.reference, p.amount, p.receivedAt.slice(0, 16)])).toEqual([
        ['ACME-WIRE-1', 1_000_000, '2040-04-19T16:30'],
        ['ACME-WIRE-2', 1_376_040, '2040-04-20T10:00'],
      ]);
      expect(await findInvoiceDetail(pool, invoiceId)).toMatchObject({ status: 'paid', amountPaid: 2_376_040, amountDue: 0, collection: { status: 'paid' } });
      expect(await accountBalances(pool, [invoiceId])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:bank', balance: 2_376_040 },
        { account: 'revenue', balance: -1_980_033 },
        { account: 'tax_payable', balance: -396_007 },
      ]);
      expect(await ledgerTotals(pool, [invoiceId])).toEqual([{ currency: 'USD', debits: 4_752_080, credits: 4_752_080 }]);
    });
  });

  it('takes a partial bank transfer then the rest: paid, no further reminders, overpayment refused to the cent', async () => {
    await withWorker('enterprise-partial', async (taskQueue) => {
      // 7 seats x $1,428.57 + $0.02 of materials = 999,999 + 2 = 1,000,001 cents, untaxed.
      const { handle, invoiceId } = await issueInvoice(taskQueue, {
        issuedAt: '2041-05-10T12:00:00.000Z',
        lineItems: [
          { id: 'seats', description: 'Sales coaching', unitAmount: 142_857, quantity: 7, unit: 'seat' },
          { id: 'materials', description: 'Printed materials', unitAmount: 2, quantity: 1, unit: 'item' },
        ],
      });
      expect(await handle.query(getEnterpriseInvoice)).toMatchObject({ total: 1_000_001, tax: 0, dueAt: '2041-06-09T12:00:00.000Z' });

      // A payment before anything else: more than is owed is refused with the reason, by a cent.
      await expect(pay(handle, { amount: 1_000_002, method: 'bank_transfer', reference: 'WIRE-0' })).rejects.toMatchObject({
        cause: { message: `payment of 1000002 exceeds the 1000001 still owed on invoice ${invoiceId}` },
      });
      await skipToAndWaitForNotices('2041-06-02T12:00:00.000Z', invoiceId, 1);

      await skipTo('2041-06-03T11:00:00.000Z');
      // A transfer dated after the workflow's now is refused.
      await expect(pay(handle, { amount: 400_000, method: 'bank_transfer', reference: 'WIRE-1', receivedAt: '2041-06-04T10:00:00.000Z' })).rejects.toMatchObject({
        cause: { message: 'receivedAt is in the future' },
      });
      const part = await pay(handle, { amount: 400_000, method: 'bank_transfer', reference: 'WIRE-1', receivedAt: '2041-06-03T10:00:00.000Z' });
      expect(part).toMatchObject({ status: 'partially_paid', amountPaid: 400_000, amountDue: 600_001 });
      // The same transfer recorded twice is booked once; its reference with another amount is refused.
      expect(await pay(handle, { amount: 400_000, method: 'bank_transfer', reference: 'WIRE-1', receivedAt: '2041-06-03T10:00:00.000Z' })).toMatchObject({
        amountPaid: 400_000,
      });
      await expect(pay(handle, { amount: 500, method: 'bank_transfer', reference: 'WIRE-1' })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);
      await expect(pay(handle, { amount: 600_002, method: 'bank_transfer', reference: 'WIRE-2' })).rejects.toMatchObject({
        cause: { message: `payment of 600002 exceeds the 600001 still owed on invoice ${invoiceId}` },
      });
      await expect(pay(handle, { amount: 0, method: 'bank_transfer', reference: 'WIRE-2' })).rejects.toMatchObject({
        cause: { message: 'a payment must be a positive whole number of minor units' },
      });
      await expect(pay(handle, { amount: 10.5, method: 'bank_transfer', reference: 'WIRE-2' })).rejects.toBeInstanceOf(WorkflowUpdateFailedError);

      // The due-date reminder states what is still open after the part payment.
      await skipToAndWaitForNotices('2041-06-09T12:00:00.000Z', invoiceId, 2);
      const dueToday = (await listNotices(pool, { invoiceId }))[1]!;
      expect(dueToday.subject).toBe(`Invoice ${part.number}: $6,000.01 is due today`);
      expect(dueToday.body).toContain('$6,000.01 is still open');

      await skipTo('2041-06-09T15:00:00.000Z');
      const paid = await pay(handle, { amount: 600_001, method: 'bank_transfer', reference: 'WIRE-2' });
      expect(paid).toMatchObject({ status: 'paid', amountPaid: 1_000_001, amountDue: 0, pastDueAt: null });
      expect((await handle.result()).status).toBe('paid');

      // Weeks later: no past_due, no alert, no more reminders.
      await skipTo('2041-07-01T00:00:00.000Z');
      await settle();
      expect(await noticesOf(invoiceId)).toEqual([
        ['invoice_due_soon', '2041-06-02T12:00:00.000Z'],
        ['invoice_due_today', '2041-06-09T12:00:00.000Z'],
      ]);
      expect(await collectionStatus(invoiceId)).toEqual({ collection_status: 'paid', past_due_at: null });
      expect(await findInvoiceDetail(pool, invoiceId)).toMatchObject({
        status: 'paid',
        amountPaid: 1_000_001,
        paidAt: expect.stringMatching(/^2041-06-09T15:00/),
        payments: [
          expect.objectContaining({ reference: 'WIRE-1', method: 'bank_transfer', amount: 400_000, receivedAt: '2041-06-03T10:00:00.000Z' }),
          expect.objectContaining({ reference: 'WIRE-2', method: 'bank_transfer', amount: 600_001 }),
        ],
      });
      expect(await accountBalances(pool, [invoiceId])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:bank', balance: 1_000_001 },
        { account: 'revenue', balance: -1_000_001 },
      ]);
      // A completed invoice takes no payment.
      await expect(pay(handle, { amount: 1, method: 'bank_transfer', reference: 'WIRE-3' })).rejects.toThrow();
    });
  });

  it('charges a card payment through the gateway with an idempotency key, and refuses a declined card', async () => {
    await withWorker('enterprise-card', async (taskQueue) => {
      const { handle, invoiceId } = await issueInvoice(taskQueue, {
        issuedAt: '2042-01-15T00:00:00.000Z',
        lineItems: [{ id: 'course', description: 'Team course', unitAmount: 250_050, quantity: 2, unit: 'item' }],
      });
      await expect(
        pay(handle, { amount: 100_000, method: 'card', reference: 'card-1', paymentMethodToken: 'pm_card_chargeDeclinedInsufficientFunds' }),
      ).rejects.toMatchObject({ cause: { message: expect.stringMatching(/^card payment declined \(insufficient_funds\)/) } });
      expect(await handle.query(getEnterpriseInvoice)).toMatchObject({ status: 'open', amountPaid: 0, payments: [] });
      await expect(pay(handle, { amount: 100_000, method: 'card', reference: 'card-1', paymentMethodToken: 'pm_card_visa' })).rejects.toMatchObject({
        cause: { message: 'reference card-1 was used for a refused card payment; use a new reference for a new attempt' },
      });

      const byCard = await pay(handle, { amount: 200_000, method: 'card', reference: 'card-2', paymentMethodToken: 'pm_card_visa' });
      expect(byCard).toMatchObject({ status: 'partially_paid', amountPaid: 200_000, amountDue: 300_100 });
      expect(byCard.payments[0]).toMatchObject({ method: 'card', reference: 'card-2', gatewayReference: expect.stringMatching(/^pi_/) });
      const charges = simulator.charges().filter((c) => c.metadata.invoice_id === invoiceId);
      expect(charges.map((c) => [c.amount, c.paymentMethod, c.idempotencyKey])).toEqual([[200_000, 'pm_card_visa', `${invoiceId}:card:card-2`]]);

      const rest = await pay(handle, { amount: 300_100, method: 'bank_transfer', reference: 'BANK-9' });
      expect(rest.status).toBe('paid');
      expect((await handle.result()).status).toBe('paid');
      expect(await accountBalances(pool, [invoiceId])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'cash:bank', balance: 300_100 },
        { account: 'cash:stripe', balance: 200_000 },
        { account: 'revenue', balance: -500_100 },
      ]);
      expect(await noticesOf(invoiceId)).toEqual([]);
    });
  });

  it('voids an unpaid invoice: a credit note clears the receivable, no reminders go out', async () => {
    await withWorker('enterprise-void', async (taskQueue) => {
      const { handle, invoiceId } = await issueInvoice(taskQueue, {
        issuedAt: '2043-02-01T08:00:00.000Z',
        tax: taxTreatmentFor({ country: 'DE' }),
        // 3 x 99,999 = 299,997; VAT 19% = 56,999.43 -> 56,999; total 356,996.
        lineItems: [{ id: 'seats', description: 'Workshop', unitAmount: 99_999, quantity: 3, unit: 'seat' }],
      });
      expect(await handle.query(getEnterpriseInvoice)).toMatchObject({ subtotal: 299_997, tax: 56_999, total: 356_996 });
      await expect(handle.executeUpdate(voidInvoice, { args: [{ reason: '' }] })).rejects.toMatchObject({
        cause: { message: 'a reason of 1-500 characters is required' },
      });
      await skipTo('2043-02-20T00:00:00.000Z');
      const voided = await handle.executeUpdate(voidInvoice, { args: [{ reason: 'contract renegotiated' }] });
      expect(voided).toMatchObject({ status: 'void', amountDue: 0, voidReason: 'contract renegotiated' });
      expect((await handle.result()).status).toBe('void');
      await skipTo('2043-04-01T00:00:00.000Z');
      await settle();
      expect(await noticesOf(invoiceId)).toEqual([]);
      expect(await findInvoiceDetail(pool, invoiceId)).toMatchObject({ status: 'void', amountDue: 0, collection: { status: 'void', voidReason: 'contract renegotiated' } });
      expect(await accountBalances(pool, [invoiceId])).toEqual([
        { account: 'accounts_receivable', balance: 0 },
        { account: 'revenue', balance: 0 },
        { account: 'tax_payable', balance: 0 },
      ]);
    });
  });
});
