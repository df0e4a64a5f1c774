// Builds the billing worker: workflows bundled from workflows/, activities wired to real adapters.
import { NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { DatabasePool } from 'slonik';
import { createBillingActivities } from '../activities/billing';
import { createEnterpriseActivities } from '../activities/enterprise';
import { createNotificationActivities, DEFAULT_PUBLIC_BASE_URL, updatePaymentUrlFrom } from '../activities/notifications';
import { createPurchaseActivities } from '../activities/purchases';
import { createRetryDecisionActivities } from '../activities/retry-decisions';
import { createSubscriptionActivities } from '../activities/subscriptions';
import type { Gateway } from '../gateways/gateway';
import { createPaymentRouter, type PaymentRouter } from '../gateways/router';
import type { PaymentMetrics } from '../gateways/metrics';
import { TASK_QUEUE } from '../workflows/messages';

export interface BillingWorkerOptions {
  readonly connection: NativeConnection;
  readonly namespace?: string;
  readonly taskQueue?: string;
  readonly pool: DatabasePool;
  /** Stripe first; PayPal when configured. */
  readonly gateways: readonly Gateway[];
  readonly metrics?: PaymentMetrics;
  /** Where notices send customers to update their payment method (default PUBLIC_BASE_URL). */
  readonly publicBaseUrl?: string;
  /** Tests bundle once per file and pass the bundle in; otherwise the worker bundles itself. */
  readonly workflowBundle?: WorkflowBundleWithSourceMap;
}

export const WORKFLOWS_PATH = require.resolve('../workflows');

export interface BillingWorker {
  readonly worker: Worker;
  readonly router: PaymentRouter;
  run(): Promise<void>;
}

export async function createBillingWorker(options: BillingWorkerOptions): Promise<BillingWorker> {
  const stripe = options.gateways.find((g) => g.name === 'stripe');
  if (!stripe) throw new Error('the billing worker needs the Stripe gateway');
  const router = createPaymentRouter({ gateways: options.gateways, ...(options.metrics ? { metrics: options.metrics } : {}) });
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue ?? TASK_QUEUE,
    ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    activities: {
      ...createBillingActivities({ pool: options.pool, router, stripe }),
      ...createPurchaseActivities({ pool: options.pool, router, stripe }),
      ...createEnterpriseActivities({ pool: options.pool, gateway: stripe }),
      ...createSubscriptionActivities({ pool: options.pool }),
      ...createNotificationActivities({
        pool: options.pool,
        updatePaymentUrl: updatePaymentUrlFrom(options.publicBaseUrl ?? process.env.PUBLIC_BASE_URL ?? DEFAULT_PUBLIC_BASE_URL),
      }),
      // The model takes in new outcomes at most once a minute, not with a full count per decision.
      ...createRetryDecisionActivities({ pool: options.pool, refreshEveryMs: 60_000 }),
    },
  });
  return {
    worker,
    router,
    async run() {
      try {
        await worker.run();
      } finally {
        router.shutdown();
      }
    },
  };
}
