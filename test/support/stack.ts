// The service as it runs in production, in this process: the Express API on a random port and
// a billing worker, against the real Temporal dev server, PostgreSQL and the Stripe simulator.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import type { Server } from 'node:http';
import pino from 'pino';
import { createApp } from '../../api/app';
import { createApiKey, SCOPES, type Scope } from '../../api/auth';
import type { DatabasePool } from '../../db/pool';
import { createStripeGateway } from '../../gateways/stripe';
import { createPayPalGateway } from '../../gateways/paypal';
import { createBillingWorker, type BillingWorker } from '../../workers/billing-worker';
import { startPayPalSandbox, type PayPalSandbox } from '../peers/paypal-sandbox';
import { startStripeSimulator, type StripeSimulator } from '../peers/stripe-simulator';
import { bundleWorkflows, requiredEnv, testPool, uniqueTaskQueue } from './environment';

export const STRIPE_WEBHOOK_SECRET = 'whsec_integration_tests';

export interface Stack {
  readonly baseUrl: string;
  readonly pool: DatabasePool;
  readonly temporal: Client;
  readonly simulator: StripeSimulator;
  readonly paypal: PayPalSandbox;
  readonly logger: pino.Logger;
  readonly taskQueue: string;
  apiKey(scopes?: readonly Scope[]): Promise<string>;
  close(): Promise<void>;
}

export async function startStack(options: { worker?: boolean } = {}): Promise<Stack> {
  const taskQueue = uniqueTaskQueue('api');
  const [pool, simulator, connection] = await Promise.all([
    testPool(),
    startStripeSimulator({ port: 0, stripeMockUrl: requiredEnv('STRIPE_MOCK_URL') }),
    Connection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') }),
  ]);
  const temporal = new Client({ connection });
  const logger = pino({ level: 'silent' });
  const paypal = await startPayPalSandbox({ port: 0 });
  const paypalGateway = createPayPalGateway({ clientId: paypal.clientId, clientSecret: paypal.clientSecret, baseUrl: paypal.url });
  const gateways = [createStripeGateway({ apiKey: 'sk_test_integration', host: '127.0.0.1', port: simulator.port, protocol: 'http' }), paypalGateway];
  const app = createApp({
    pool,
    temporal,
    logger,
    taskQueue,
    gateways,
    webhooks: { stripeWebhookSecret: STRIPE_WEBHOOK_SECRET, paypal: { gateway: paypalGateway, webhookId: paypal.webhookId } },
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');

  let billing: BillingWorker | undefined;
  let workerRun: Promise<void> | undefined;
  let nativeConnection: NativeConnection | undefined;
  if (options.worker !== false) {
    nativeConnection = await NativeConnection.connect({ address: requiredEnv('TEMPORAL_ADDRESS') });
    billing = await createBillingWorker({ connection: nativeConnection, taskQueue, pool, gateways, workflowBundle: await bundleWorkflows() });
    workerRun = billing.run();
  }

  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    pool,
    temporal,
    simulator,
    paypal,
    logger,
    taskQueue,
    async apiKey(scopes: readonly Scope[] = SCOPES) {
      return (await createApiKey(pool, 'test', scopes)).key;
    },
    async close() {
      billing?.worker.shutdown();
      await workerRun;
      await paypal.close();
      await nativeConnection?.close();
      await new Promise((resolve) => server.close(resolve));
      await connection.close();
      await simulator.close();
      await pool.end();
    },
  };
}

/** fetch with JSON in and out; returns status, parsed body and headers. */
export async function request(
  baseUrl: string,
  method: string,
  path: string,
  options: { apiKey?: string; body?: unknown; rawBody?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  let payload: string | undefined;
  if (options.rawBody !== undefined) payload = options.rawBody;
  else if (options.body !== undefined) payload = JSON.stringify(options.body);
  if (payload !== undefined && !headers['content-type']) headers['content-type'] = 'application/json';
  const response = await fetch(`${baseUrl}${path}`, { method, headers, body: payload });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body, headers: response.headers };
}
