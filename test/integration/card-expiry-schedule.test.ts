// The card-expiry scan as the deployment runs it: a Temporal Schedule (on the dev server) that
// starts cardExpiryScanWorkflow daily, the first time at once, on the workers' task queue.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { stripeEndpoint } from '../../config/env';
import { listNotices } from '../../db/notifications';
import { savePaymentMethod } from '../../db/payment-methods';
import type { DatabasePool } from '../../db/pool';
import { createStripeGateway } from '../../gateways/stripe';
import { createBillingWorker } from '../../workers/billing-worker';
import { ensureCardExpirySchedule } from '../../workers/schedules';
import { bundleWorkflows, createTestCustomer, requiredEnv, testPool, uniqueTaskQueue, waitFor } from '../support/environment';

let pool: DatabasePool;
let connection: Connection;
let client: Client;

beforeAll(async () => {
  pool = await testPool();
  connection = await Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
  client = new Client({ connection });
});

afterAll(async () => {
  await connection?.close();
  await pool?.end();
});

/** The last day of the current UTC month: a card valid through it stops working on the 1st. */
function endOfThisMonth(): string {
  const now = new Date();
  return new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 0)).toISOString().slice(0, 10);
}

it('creates the daily schedule once, scans at once, and queues the notice for a card expiring this month', async () => {
  const taskQueue = uniqueTaskQueue('card-scan');
  const scheduleId = `card-expiry-scan-test-${randomUUID().slice(0, 8)}`;
  const customerId = await createTestCustomer(pool, 'Mary Jackson');
  await savePaymentMethod(pool, { customerId, gateway: 'stripe', token: 'pm_card_visa', role: 'default', cardExpiresOn: endOfThisMonth() });

  const native = await NativeConnection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
  const stripe = createStripeGateway({ apiKey: 'sk_test_schedule', ...stripeEndpoint(requiredEnv('STRIPE_MOCK_URL')) });
  const billing = await createBillingWorker({ connection: native, taskQueue, pool, gateways: [stripe], workflowBundle: await bundleWorkflows() });
  try {
    await billing.worker.runUntil(async () => {
      expect(await ensureCardExpirySchedule(client, taskQueue, scheduleId)).toBe(true);
      expect(await ensureCardExpirySchedule(client, taskQueue, scheduleId)).toBe(false); // a second worker: left alone
      const description = await client.schedule.getHandle(scheduleId).describe();
      expect(description.spec.intervals?.map((i) => i.every)).toEqual([86_400_000]); // one day
      expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'cardExpiryScanWorkflow', taskQueue });

      const notices = await waitFor(async () => {
        const found = await listNotices(pool, { customerId });
        return found.length > 0 ? found : null;
      }, 'the card-expiring notice');
      expect(notices.map((n) => n.kind)).toEqual(['card_expiring_soon']);

      // Workers moved to another task queue: the schedule follows them.
      expect(await ensureCardExpirySchedule(client, `${taskQueue}-moved`, scheduleId)).toBe(false);
      expect((await client.schedule.getHandle(scheduleId).describe()).action).toMatchObject({ taskQueue: `${taskQueue}-moved` });
    });
  } finally {
    await client.schedule.getHandle(scheduleId).delete();
    billing.router.shutdown();
    await native.close();
  }
});
