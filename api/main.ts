// API process entry point: serves until SIGINT/SIGTERM, then stops taking requests, finishes
// the ones in flight and closes its connections.
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { loadEnv, stripeEndpoint } from '../config/env';
import { createDatabasePool } from '../db/pool';
import type { Gateway } from '../gateways/gateway';
import { createPayPalGateway } from '../gateways/paypal';
import { createStripeGateway } from '../gateways/stripe';
import { resumePendingRefunds } from './routes/refunds';
import { createApp } from './app';
import { relayPendingWebhooks } from './webhook-relay';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = pino({ level: env.LOG_LEVEL, name: 'api' });
  const pool = await createDatabasePool(env.DATABASE_URL);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const gateways: Gateway[] = [createStripeGateway({ apiKey: env.STRIPE_API_KEY, ...stripeEndpoint(env.STRIPE_API_BASE) })];
  const paypalGateway =
    env.PAYPAL_CLIENT_ID && env.PAYPAL_CLIENT_SECRET
      ? createPayPalGateway({ clientId: env.PAYPAL_CLIENT_ID, clientSecret: env.PAYPAL_CLIENT_SECRET, baseUrl: env.PAYPAL_API_BASE })
      : undefined;
  if (paypalGateway) gateways.push(paypalGateway);
  const paypal = paypalGateway && env.PAYPAL_WEBHOOK_ID ? { gateway: paypalGateway, webhookId: env.PAYPAL_WEBHOOK_ID } : undefined;
  const app = createApp({
    pool,
    temporal,
    logger,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    bodyLimit: env.REQUEST_BODY_LIMIT,
    gateways,
    webhooks: { ...(env.STRIPE_WEBHOOK_SECRET ? { stripeWebhookSecret: env.STRIPE_WEBHOOK_SECRET } : {}), ...(paypal ? { paypal } : {}) },
  });
  const server = app.listen(env.PORT, () => logger.info({ port: env.PORT }, 'api listening'));
  // Stored webhook events whose signal failed (Temporal briefly unreachable) are relayed again.
  const relay = setInterval(() => void relayPendingWebhooks(pool, temporal, logger), 5_000);
  // A refund whose gateway answer was lost (and whose request had no Idempotency-Key to retry with) is resumed.
  const refunds = setInterval(
    () => void resumePendingRefunds(pool, gateways).catch((error: unknown) => logger.error({ err: error }, 'resuming pending refunds failed')),
    60_000,
  );

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'api shutting down');
    clearInterval(relay);
    clearInterval(refunds);
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
