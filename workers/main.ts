// Worker process entry point. SIGINT/SIGTERM make the SDK drain in-flight tasks, then we close
// the pool: an activity is never cut off between its gateway call and its database write.
import { NativeConnection } from '@temporalio/worker';
import pino from 'pino';
import { loadEnv, stripeEndpoint } from '../config/env';
import { createDatabasePool } from '../db/pool';
import { createStripeGateway } from '../gateways/stripe';
import { createBillingWorker } from './billing-worker';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = pino({ level: env.LOG_LEVEL, name: 'worker' });
  const pool = await createDatabasePool(env.DATABASE_URL);
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const gateway = createStripeGateway({ apiKey: env.STRIPE_API_KEY, ...stripeEndpoint(env.STRIPE_API_BASE) });
  const worker = await createBillingWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    pool,
    gateway,
  });
  logger.info({ taskQueue: env.TEMPORAL_TASK_QUEUE, address: env.TEMPORAL_ADDRESS }, 'worker started');
  try {
    await worker.run();
  } finally {
    await connection.close();
    await pool.end();
    logger.info('worker stopped');
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
