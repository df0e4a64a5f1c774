// A worker process killed (SIGKILL) while its renewal charge is in flight at the gateway: a
// second worker finishes the renewal, and the gateway has exactly one charge for it because
// the retried activity reuses the attempt's idempotency key. Real processes, the real Temporal
// dev server, PostgreSQL and the Stripe simulator.
import { Client, Connection } from '@temporalio/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { sql } from 'slonik';
import { z } from 'zod';
import { listSubscriptionInvoices } from '../../db/invoices';
import { accountBalances, ledgerTotals } from '../../db/ledger';
import { listAttemptsForInvoices } from '../../db/payments';
import type { DatabasePool } from '../../db/pool';
import { addMonthsClamped } from '../../domain/calendar';
import { lookupRecurringPrice } from '../../domain/catalog';
import { renewalInvoiceId } from '../../domain/invoice';
import { cancelSubscription, subscriptionWorkflowId } from '../../workflows/messages';
import type { subscriptionWorkflow } from '../../workflows/subscription';
import { startStripeSimulator, type StripeSimulator } from '../peers/stripe-simulator';
import { createTestCustomer, requiredEnv, testPool, uniqueSubscriptionId, uniqueTaskQueue, waitFor } from '../support/environment';

const ROOT = resolve(__dirname, '../..');
let pool: DatabasePool;
let simulator: StripeSimulator;
let connection: Connection;
const workers: ChildProcess[] = [];

beforeAll(async () => {
  [pool, simulator, connection] = await Promise.all([
    testPool(),
    startStripeSimulator({ port: 0, stripeMockUrl: requiredEnv('STRIPE_MOCK_URL') }),
    Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }),
  ]);
});
afterAll(async () => {
  for (const w of workers) w.kill('SIGKILL');
  await connection?.close();
  await simulator?.close();
  await pool?.end();
});

/** The production worker entry point, as its own process. */
function startWorkerProcess(taskQueue: string): ChildProcess {
  const child = spawn(process.execPath, ['-r', '@swc-node/register', 'workers/main.ts'], {
    cwd: ROOT,
    env: { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue, STRIPE_API_BASE: simulator.url, LOG_LEVEL: 'warn', METRICS_PORT: '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  workers.push(child);
  return child;
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise((resolve) => child.once('exit', resolve));
}

it('a worker killed mid-renewal: the renewal completes with exactly one charge and one ledger posting', async () => {
  const taskQueue = uniqueTaskQueue('crash');
  const customerId = await createTestCustomer(pool);
  const subscriptionId = uniqueSubscriptionId();
  const renewalInvoice = renewalInvoiceId(subscriptionId, 1);
  const renewalKey = `${renewalInvoice}:attempt-1`;
  // Started a month ago (an imported subscription), so its first renewal falls due in seconds.
  const startAt = addMonthsClamped(new Date(Date.now() + 8_000), -1).toISOString();
  const plan = lookupRecurringPrice('community', 'month', 'USD');
  if (!plan.ok) throw new Error(plan.reason);

  // The renewal's charge is taken, then its answer is held back until the caller goes away.
  simulator.hold(renewalKey);
  const first = startWorkerProcess(taskQueue);
  const client = new Client({ connection });
  const handle = await client.workflow.start<typeof subscriptionWorkflow>('subscriptionWorkflow', {
    workflowId: subscriptionWorkflowId(subscriptionId),
    taskQueue,
    args: [{ subscriptionId, customerId, plan: plan.price, paymentMethodToken: 'pm_card_visa', startAt, reactivationWindowDays: 0 }],
  });

  await waitFor(async () => (await simulator.charges()).some((c) => c.idempotencyKey === renewalKey), 'the renewal charge to reach the gateway', 90_000);
  first.kill('SIGKILL');
  await exited(first);

  const second = startWorkerProcess(taskQueue);
  const invoice = await waitFor(async () => {
    const invoices = await listSubscriptionInvoices(pool, subscriptionId);
    return invoices.find((i) => i.id === renewalInvoice && i.status === 'paid');
  }, 'the renewal to be paid by the second worker', 120_000);
  expect(invoice.amount_paid).toBe(9700);

  const renewalCharges = (await simulator.charges()).filter((c) => c.metadata.invoice_id === renewalInvoice);
  expect(renewalCharges.map((c) => [c.amount, c.idempotencyKey])).toEqual([[9700, renewalKey]]);
  const attempts = await listAttemptsForInvoices(pool, [renewalInvoice]);
  expect(attempts.map((a) => [a.idempotency_key, a.outcome])).toEqual([[renewalKey, 'succeeded']]);
  const postings = await pool.anyFirst(sql.type(z.object({ id: z.string() }))`
    SELECT id FROM ledger_entries WHERE invoice_id = ${renewalInvoice} ORDER BY id`);
  expect(postings).toEqual([`je_invoice_${renewalInvoice}`, `je_payment_${renewalKey}`]);
  expect(await ledgerTotals(pool, [renewalInvoice])).toEqual([{ currency: 'USD', debits: 19_400, credits: 19_400 }]);
  expect(await accountBalances(pool, [renewalInvoice])).toEqual([
    { account: 'accounts_receivable', balance: 0 },
    { account: 'cash:stripe', balance: 9700 },
    { account: 'revenue', balance: -9700 },
  ]);

  // The customer cancels now; the second worker (which rebuilt the workflow from history) ends it.
  const canceled = await handle.executeUpdate(cancelSubscription, { args: [{ when: 'now' }] });
  expect(canceled.status).toBe('canceled');
  expect((await handle.result()).status).toBe('canceled');
  second.kill('SIGTERM');
  await exited(second);
});
