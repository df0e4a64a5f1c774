// Worker process entry point. SIGINT/SIGTERM make the SDK drain in-flight tasks, then we close
// the pool: an activity is never cut off between its gateway call and its database write.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createServer } from 'node:http';
import pino from 'pino';
import { loadEnv, stripeEndpoint } from '../config/env';
import { createDatabasePool } from '../db/pool';
import type { Gateway } from '../gateways/gateway';
import { createPaymentMetrics } from '../gateways/metrics';
import { createPayPalGateway } from '../gateways/paypal';
import { createStripeGateway } from '../gateways/stripe';
import { createNoticeSender, noticeSenderConfigFromEnv } from '../notifications/sender';
import { createBillingWorker } from './billing-worker';
import { CARD_EXPIRY_SCHEDULE_ID, ensureCardExpirySchedule } from './schedules';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = pino({ level: env.LOG_LEVEL, name: 'worker' });
  const pool = await createDatabasePool(env.DATABASE_URL);
  const connection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  const gateways: Gateway[] = [createStripeGateway({ apiKey: env.STRIPE_API_KEY, ...stripeEndpoint(env.STRIPE_API_BASE) })];
  if (env.PAYPAL_CLIENT_ID && env.PAYPAL_CLIENT_SECRET) {
    gateways.push(createPayPalGateway({ clientId: env.PAYPAL_CLIENT_ID, clientSecret: env.PAYPAL_CLIENT_SECRET, baseUrl: env.PAYPAL_API_BASE }));
  }
  const metrics = createPaymentMetrics();
  const billing = await createBillingWorker({
    connection,
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    pool,
    gateways,
    metrics,
  });
  const metricsServer = createServer((req, res) => {
    if (req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => res.writeHead(500).end(),
    );
  });
  if (env.METRICS_PORT > 0) metricsServer.listen(env.METRICS_PORT, '127.0.0.1');
  logger.info(
    { taskQueue: env.TEMPORAL_TASK_QUEUE, address: env.TEMPORAL_ADDRESS, gateways: gateways.map((g) => g.name), metricsPort: env.METRICS_PORT },
    'worker started',
  );
  // Notices go out from the outbox (when SMTP is configured); leases make several workers safe.
  const smtp = noticeSenderConfigFromEnv();
  const notices = smtp
    ? createNoticeSender({ pool, transport: smtp.transport, from: smtp.from, pollMs: smtp.pollMs, logger: logger.child({ component: 'notices' }) })
    : null;
  notices?.start();
  // Card-expiring notices are queued by a daily scan, a Temporal Schedule (one for the deployment).
  const clientConnection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  try {
    const created = await ensureCardExpirySchedule(new Client({ connection: clientConnection, namespace: env.TEMPORAL_NAMESPACE }), env.TEMPORAL_TASK_QUEUE);
    logger.info({ scheduleId: CARD_EXPIRY_SCHEDULE_ID, created }, 'card expiry scan scheduled');
  } finally {
    await clientConnection.close();
  }
  try {
    await billing.run();
  } finally {
    await notices?.stop();
    metricsServer.close();
    await connection.close();
    await pool.end();
    logger.info('worker stopped');
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
