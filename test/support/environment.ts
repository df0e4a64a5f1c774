// Shared set-up for workflow and integration tests. scripts/test.sh starts PostgreSQL,
// stripe-mock and a Temporal dev server and exports their addresses; these helpers connect.
import { SearchAttributeType } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { insertCustomer } from '../../db/customers';
import { createDatabasePool, type DatabasePool } from '../../db/pool';
import { WORKFLOWS_PATH } from '../../workers/billing-worker';
import { searchAttributes } from '../../workflows/messages';

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the tests through \`npm test\` (scripts/test.sh)`);
  return value;
}

export async function testPool(): Promise<DatabasePool> {
  return createDatabasePool(requiredEnv('DATABASE_URL'), { maximumPoolSize: 5 });
}

/**
 * Temporal's Java time-skipping test server, started from the cached executable. A cold JVM
 * on two cores can miss the SDK's start-up deadline, so creation is retried.
 */
export async function startTimeSkippingEnvironment(attempts = 3): Promise<TestWorkflowEnvironment> {
  const path = requiredEnv('TEMPORAL_TEST_SERVER');
  let lastError: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      const env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } });
      await registerSearchAttributes(env);
      return env;
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

const INDEXED_VALUE_TYPES: Partial<Record<SearchAttributeType, temporal.api.enums.v1.IndexedValueType>> = {
  [SearchAttributeType.KEYWORD]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  [SearchAttributeType.DATETIME]: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
};

/** The test server starts with none of the custom search attributes the workflows upsert. */
async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const attributes = Object.fromEntries(
    Object.values(searchAttributes).map((key) => [key.name, INDEXED_VALUE_TYPES[key.type]!]),
  );
  await env.connection.operatorService.addSearchAttributes({ namespace: 'default', searchAttributes: attributes });
}

export async function bundleWorkflows(): Promise<WorkflowBundleWithSourceMap> {
  return bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

export function uniqueTaskQueue(name: string): string {
  return `${name}-${randomUUID()}`;
}

export async function createTestCustomer(pool: DatabasePool, name = 'Test Customer'): Promise<string> {
  const id = `cus_t${randomUUID().replace(/-/g, '').slice(0, 20)}`;
  await insertCustomer(pool, { id, email: `${id}@example.test`, name, country: 'US' });
  return id;
}

export function uniqueSubscriptionId(): string {
  return `sub_t${randomUUID().replace(/-/g, '').slice(0, 20)}`;
}

export async function waitFor<T>(probe: () => Promise<T | null | undefined | false>, what: string, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
