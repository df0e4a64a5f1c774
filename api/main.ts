// API process entry point: serves until SIGINT/SIGTERM, then stops taking requests, finishes
// the ones in flight and closes its connections.
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { loadEnv } from '../config/env';
import { createDatabasePool } from '../db/pool';
import { createPayPalGateway } from '../gateways/paypal';
import { createApp } from './app';
import { relayPendingWebhooks } from './webhook-relay';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = pino({ level: env.LOG_LEVEL, name: 'api' });
  const pool = await createDatabasePool(env.DATABASE_URL);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const paypal =
    env.PAYPAL_CLIENT_ID && env.PAYPAL_CLIENT_SECRET && env.PAYPAL_WEBHOOK_ID
      ? {
          gateway: createPayPalGateway({ clientId: env.PAYPAL_CLIENT_ID, clientSecret: env.PAYPAL_CLIENT_SECRET, baseUrl: env.PAYPAL_API_BASE }),
          webhookId: env.PAYPAL_WEBHOOK_ID,
        }
      : undefined;
  const app = createApp({
    pool,
    temporal,
    logger,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    bodyLimit: env.REQUEST_BODY_LIMIT,
    webhooks: { ...(env.STRIPE_WEBHOOK_SECRET ? { stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET } : {}), ...(paypal ? { paypal } : {}) },
  });
  const server = app.listen(env.PORT, () => logger.info({ port: env.PORT }, 'api listening'));
  // Stored webhook events whose signal failed (Temporal briefly unreachable) are relayed again.
  const relay = setInterval(() => void relayPendingWebhooks(pool, temporal, logger), 5_000);

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'api shutting down');
    clearInterval(relay);
    server.close(() => {
      void Promise.all([connection.close(), pool.end()]).finally(() => process.exit(0));
    });
    server.closeIdleConnections();
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
