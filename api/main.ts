// API process entry point: serves until SIGINT/SIGTERM, then stops taking requests, finishes
// the ones in flight and closes its connections.
import { Client, Connection } from '@temporalio/client';
import pino from 'pino';
import { loadEnv } from '../config/env';
import { createDatabasePool } from '../db/pool';
import { createApp } from './app';

async function main(): Promise<void> {
  const env = loadEnv();
  const logger = pino({ level: env.LOG_LEVEL, name: 'api' });
  const pool = await createDatabasePool(env.DATABASE_URL);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  const app = createApp({ pool, temporal, logger, taskQueue: env.TEMPORAL_TASK_QUEUE, bodyLimit: env.REQUEST_BODY_LIMIT });
  const server = app.listen(env.PORT, () => logger.info({ port: env.PORT }, 'api listening'));

  const shutdown = (signal: string) => {
    logger.info({ signal }, 'api shutting down');
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
