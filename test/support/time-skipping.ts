// Moving the time-skipping test server's clock safely. The server keeps skipping while an
// activity runs, so an activity still in flight when the clock jumps sees its timeouts fire;
// every test therefore moves time only once the workflows it drives are idle on a timer.
import { Client, Connection, type ConnectionOptions, type WorkflowHandle } from '@temporalio/client';
import { InternalConnectionOptionsSymbol } from '@temporalio/client/lib/connection';
import { msToTs, tsToMs } from '@temporalio/common/lib/time';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DatabasePool } from '../../db/pool';
import { startStripeSimulator, type StripeSimulator } from '../peers/stripe-simulator';
import { bundleWorkflows, requiredEnv, startTimeSkippingEnvironment, testPool, waitFor } from './environment';

export async function untilIdle(handle: WorkflowHandle): Promise<void> {
  await waitFor(async () => {
    const { raw } = await handle.describe();
    return (raw.pendingActivities?.length ?? 0) === 0 && !raw.pendingWorkflowTask;
  }, `${handle.workflowId} to be idle`);
}

/** The test server's clock. */
export interface TestClock {
  currentTimeMs(): Promise<number>;
  sleep(ms: number): Promise<void>;
}

/**
 * A client connection to the test server that sends no keepalive pings. The Java test server
 * answers pings more often than every 5 minutes with GOAWAY (too_many_pings); the SDK's default
 * connection pings every 30 s, so a test file slowed down by load got one mid-skip, the skip's
 * answer never came, and the server's clock stayed locked for the rest of the file (seen twice).
 */
async function connectWithoutPings(address: string): Promise<Connection> {
  const options = {
    address,
    channelArgs: { 'grpc.keepalive_time_ms': 24 * 3_600_000, 'grpc.keepalive_permit_without_calls': 0 },
    // The SDK's own switch for the test server's TestService (what TestWorkflowEnvironment uses).
    [InternalConnectionOptionsSymbol]: { supportsTestService: true },
  };
  return Connection.connect(options as ConnectionOptions);
}

function clockOver(connection: Connection): TestClock {
  const { testService } = connection;
  if (!testService) throw new Error('the connection has no TestService: is this the time-skipping test server?');
  return {
    async currentTimeMs() {
      const { time } = await testService.getCurrentTime({});
      return tsToMs(time);
    },
    async sleep(ms) {
      await testService.unlockTimeSkippingWithSleep({ duration: msToTs(ms) });
    },
  };
}

/**
 * Moves the clock forward to `instant` (never back), once the given workflows are idle.
 * `suspects` (default: the idle ones) are described if the skip is slow: every workflow the
 * file started, so that one left with an activity in flight by an earlier test shows.
 */
export async function skipTo(clock: TestClock, instant: string, idle: readonly WorkflowHandle[] = [], suspects: readonly WorkflowHandle[] = idle): Promise<void> {
  for (const handle of idle) await untilIdle(handle);
  const from = await clock.currentTimeMs();
  const ms = Date.parse(instant) - from;
  if (ms <= 0) return;
  // A skip should take milliseconds of real time. Under heavy load a test once hung here (the
  // server waited in real time); say what the server and the workflows looked like if it recurs.
  const slow = setTimeout(() => {
    describeStuckSkip(clock, suspects, new Date(from).toISOString(), instant).then(
      (text) => console.warn(text),
      (error: unknown) => console.warn(`time-skipping: skip to ${instant} is slow; describing it failed`, error),
    );
  }, 15_000);
  try {
    await clock.sleep(ms);
  } finally {
    clearTimeout(slow);
  }
}

async function describeStuckSkip(clock: TestClock, suspects: readonly WorkflowHandle[], from: string, to: string): Promise<string> {
  const lines = [`time-skipping: skip ${from} -> ${to} has taken 15 s of real time; server now ${new Date(await clock.currentTimeMs()).toISOString()}`];
  for (const handle of suspects) {
    const { raw, status } = await handle.describe();
    lines.push(
      `  ${handle.workflowId}: ${status.name}, pending activities ${JSON.stringify(raw.pendingActivities?.map((a) => [a.activityType?.name, a.state, a.attempt]))}, pending workflow task ${JSON.stringify(raw.pendingWorkflowTask ?? null)}`,
    );
  }
  return lines.join('\n');
}

/**
 * What every time-skipping workflow test file starts once: the test server, PostgreSQL, the
 * Stripe simulator (over stripe-mock), the workflow bundle, and a plain client (env.client would
 * unlock time skipping while it waits, and the clock would run ahead to any timer it likes).
 */
export interface TimeSkippingTestbed {
  readonly env: TestWorkflowEnvironment;
  readonly pool: DatabasePool;
  readonly simulator: StripeSimulator;
  readonly bundle: WorkflowBundleWithSourceMap;
  readonly client: Client;
  /** The server's clock, over the client's connection (see connectWithoutPings). */
  readonly clock: TestClock;
  teardown(): Promise<void>;
}

export async function startTimeSkippingTestbed(): Promise<TimeSkippingTestbed> {
  const [env, pool, simulator, bundle] = await Promise.all([
    startTimeSkippingEnvironment(),
    testPool(),
    startStripeSimulator({ port: 0, stripeMockUrl: requiredEnv('STRIPE_MOCK_URL') }),
    bundleWorkflows(),
  ]);
  const connection = await connectWithoutPings(env.address);
  return {
    env,
    pool,
    simulator,
    bundle,
    client: new Client({ connection }),
    clock: clockOver(connection),
    async teardown() {
      await connection.close();
      await env.teardown();
      await simulator.close();
      await pool.end();
    },
  };
}
