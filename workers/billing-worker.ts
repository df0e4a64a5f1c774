// Builds the billing worker: workflows bundled from workflows/, activities wired to real adapters.
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DatabasePool } from 'slonik';
import { createBillingActivities } from '../activities/billing';
import type { Gateway } from '../gateways/gateway';
import { TASK_QUEUE } from '../workflows/messages';

export interface BillingWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace?: string;
  readonly taskQueue?: string;
  readonly pool: DatabasePool;
  readonly gateway: Gateway;
  /** Tests bundle once per file and pass the bundle in; otherwise the worker bundles itself. */
  readonly workflowBundle?: WorkflowBundleWithSourceMap;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

export async function createBillingWorker(options: BillingWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: createBillingActivities({ pool: options.pool, gateway: options.gateway }),
  });
}
