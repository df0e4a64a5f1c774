// What every time-skipping test of the subscription workflow needs: one test server, the real
// billing worker (PostgreSQL, the Stripe simulator over stripe-mock), and clock moves that wait
// for the workflow to be idle. Each test file makes one harness; each test starts in a later
// year than the one before (the server's clock only moves forward).
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { listAttemptsForInvoices } from '../../db/payments';
import type { DatabasePool } from '../../db/pool';
import { lookupRecurringPrice, type PriceSnapshot } from '../../domain/catalog';
import type { BillingInterval } from '../../domain/calendar';
import type { Currency } from '../../domain/money';
import type { PaymentRouter } from '../../gateways/router';
import { createStripeGateway } from '../../gateways/stripe';
import { createBillingWorker } from '../../workers/billing-worker';
import { getSubscription, subscriptionWorkflowId } from '../../workflows/messages';
import { subscriptionWorkflow, type SubscriptionWorkflowInput } from '../../workflows/subscription';
import type { ChargeRecord, StripeSimulator } from '../peers/stripe-simulator';
import { createTestCustomer, uniqueSubscriptionId, uniqueTaskQueue, waitFor } from './environment';
import { skipTo as skipToInstant, startTimeSkippingTestbed } from './time-skipping';

export interface SubscriptionHarness {
  readonly pool: DatabasePool;
  readonly simulator: StripeSimulator;
  /** A plain client: env.client would unlock time skipping while it waits (see time-skipping.ts). */
  readonly client: Client;
  /** Terminates the workflows a failed test left running, so they cannot hold the clock. */
  terminateRunning(): Promise<void>;
  newWorker(taskQueue: string): Promise<Worker>;
  /** Runs `test` while a billing worker polls a fresh task queue named after `prefix`. */
  withWorker(prefix: string, test: (taskQueue: string) => Promise<void>): Promise<void>;
  start(taskQueue: string, input: Omit<SubscriptionWorkflowInput, 'subscriptionId' | 'customerId'> & { customerId?: string }): Promise<{
    handle: WorkflowHandle<typeof subscriptionWorkflow>;
    subscriptionId: string;
    customerId: string;
  }>;
  /** The test server's address, for the Temporal CLI. */
  readonly address: string;
  /** Moves the clock once the current subscription is idle. */
  skipTo(instant: string): Promise<void>;
  /** Moves the clock one billing date at a time, waiting at each until it is billed. */
  advanceTo(handle: WorkflowHandle<typeof subscriptionWorkflow>, instant: string): Promise<void>;
  chargesFor(subscriptionId: string): Promise<ChargeRecord[]>;
  /** [attempt, outcome, decline code] of an invoice's settled attempts, in order. */
  attemptsOf(invoiceId: string): Promise<(string | number | null)[][]>;
  waitForAttempts(invoiceId: string, count: number): Promise<void>;
  teardown(): Promise<void>;
}

/**
 * One harness for a test file: started before its tests, workflows a failed test left running
 * terminated after each, torn down after all. `use` receives it once it is started.
 */
export function useSubscriptionHarness(use: (harness: SubscriptionHarness) => void): void {
  let harness: SubscriptionHarness | undefined;
  beforeAll(async () => {
    harness = await startSubscriptionHarness();
    use(harness);
  });
  afterEach(async () => {
    await harness?.terminateRunning();
  });
  afterAll(async () => {
    await harness?.teardown();
  });
}

export function price(planId: string, interval: BillingInterval, currency: Currency = 'USD'): PriceSnapshot {
  const lookup = lookupRecurringPrice(planId, interval, currency);
  if (!lookup.ok) throw new Error(lookup.reason);
  return lookup.price;
}

export async function startSubscriptionHarness(): Promise<SubscriptionHarness> {
  const testbed = await startTimeSkippingTestbed();
  const { env, pool, simulator, bundle, client } = testbed;
  const routers: PaymentRouter[] = [];
  let current: WorkflowHandle | undefined;
  const started: WorkflowHandle[] = [];
  /** Every workflow the file started, for the diagnosis of a slow skip. */
  const all: WorkflowHandle[] = [];

  const skipTo = (instant: string) => skipToInstant(testbed.clock, instant, current ? [current] : [], all);

  async function newWorker(taskQueue: string): Promise<Worker> {
    const stripe = createStripeGateway({ apiKey: 'sk_test_workflowtests', host: '127.0.0.1', port: simulator.port, protocol: 'http' });
    const billing = await createBillingWorker({ connection: env.nativeConnection, taskQueue, pool, gateways: [stripe], workflowBundle: bundle });
    routers.push(billing.router);
    return billing.worker;
  }

  return {
    pool,
    simulator,
    client,
    address: env.address,
    newWorker,
    async withWorker(prefix, test) {
      const taskQueue = uniqueTaskQueue(prefix);
      const worker = await newWorker(taskQueue);
      await worker.runUntil(() => test(taskQueue));
    },
    async start(taskQueue, input) {
      // The test server times a workflow out 10 years after it starts: start it near its start date.
      if (input.startAt) await skipToInstant(testbed.clock, new Date(Date.parse(input.startAt) - 86_400_000).toISOString(), current ? [current] : [], all);
      const customerId = input.customerId ?? (await createTestCustomer(pool));
      const subscriptionId = uniqueSubscriptionId();
      const handle = await client.workflow.start(subscriptionWorkflow, {
        workflowId: subscriptionWorkflowId(subscriptionId),
        taskQueue,
        args: [{ reactivationWindowDays: 0, ...input, subscriptionId, customerId }],
      });
      current = handle;
      started.push(handle);
      all.push(handle);
      return { handle, subscriptionId, customerId };
    },
    skipTo,
    async terminateRunning() {
      for (const handle of started.splice(0)) {
        const { status } = await handle.describe();
        if (status.name === 'RUNNING') await handle.terminate('left running by a failed test');
      }
      current = undefined;
    },
    async advanceTo(handle, instant) {
      for (;;) {
        const next = (await handle.query(getSubscription)).nextCharge;
        if (!next || Date.parse(next.at) > Date.parse(instant)) break;
        await skipTo(next.at);
        await waitFor(async () => (await handle.query(getSubscription)).nextCharge?.at !== next.at, `the charge due ${next.at}`);
      }
      await skipTo(instant);
    },
    async chargesFor(subscriptionId) {
      return (await simulator.charges()).filter((c) => c.metadata.subscription_id === subscriptionId);
    },
    async attemptsOf(invoiceId) {
      return (await listAttemptsForInvoices(pool, [invoiceId])).map((a) => [a.attempt, a.outcome, a.decline_code]);
    },
    async waitForAttempts(invoiceId, count) {
      await waitFor(
        async () => (await listAttemptsForInvoices(pool, [invoiceId])).filter((a) => a.outcome !== 'pending').length >= count,
        `${count} attempts on ${invoiceId}`,
      );
    },
    async teardown() {
      for (const router of routers) router.shutdown();
      await testbed.teardown();
    },
  };
}
