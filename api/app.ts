// The Express app: a thin layer that authenticates, validates, and hands work to workflows.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import { pinoHttp } from 'pino-http';
import type { DatabasePool } from 'slonik';
import { authenticated } from './auth';
import { ApiError, errorHandler } from './errors';
import { customerRoutes } from './routes/customers';
import { enterpriseRoutes } from './routes/enterprise';
import { invoiceRoutes } from './routes/invoices';
import { paymentMethodRoutes } from './routes/payment-methods';
import { purchaseRoutes } from './routes/purchases';
import { webhookRoutes, type WebhookConfig } from './routes/webhooks';
import { subscriptionRoutes } from './routes/subscriptions';
import { refundRoutes } from './routes/refunds';
import type { Gateway } from '../gateways/gateway';

export interface AppDependencies {
  readonly pool: DatabasePool;
  readonly temporal: Client;
  readonly logger: Logger;
  readonly taskQueue?: string;
  readonly bodyLimit?: string;
  /** Gateways refunds go back through (each refund through the one that took its payment). */
  readonly gateways?: readonly Gateway[];
  /** Gateway webhooks (mounted only when given). */
  readonly webhooks?: Omit<WebhookConfig, 'pool' | 'temporal' | 'logger'>;
}

export function createApp(deps: AppDependencies): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, res, next) => {
    const incoming = req.header('x-request-id');
    res.locals.requestId = incoming && /^[\w-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    res.setHeader('X-Request-Id', res.locals.requestId);
    next();
  });
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (_req, res) => String(res.getHeader('X-Request-Id')),
      // Headers can carry API keys: log neither them nor bodies.
      serializers: { req: (req) => ({ id: req.id, method: req.method, url: req.url }), res: (res) => ({ statusCode: res.statusCode }) },
    }),
  );

  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });

  // Webhooks need the raw body for their signatures: mounted before the JSON parser.
  if (deps.webhooks) app.use(webhookRoutes({ ...deps.webhooks, pool: deps.pool, temporal: deps.temporal, logger: deps.logger }));

  app.use('/v1', (req, _res, next) => {
    if (['POST', 'PUT', 'PATCH'].includes(req.method) && req.headers['content-length'] !== '0' && !req.is('application/json')) {
      next(new ApiError(415, 'unsupported_media_type', 'request body must be application/json'));
      return;
    }
    next();
  });
  app.use(express.json({ limit: deps.bodyLimit ?? '32kb', strict: true }));
  app.use('/v1', authenticated(deps.pool));
  app.use(customerRoutes(deps.pool));
  app.use(subscriptionRoutes(deps.pool, deps.temporal, deps.taskQueue));
  app.use(paymentMethodRoutes(deps.pool, deps.temporal, deps.logger));
  app.use(enterpriseRoutes(deps.pool, deps.temporal, deps.taskQueue));
  app.use(invoiceRoutes(deps.pool));
  app.use(refundRoutes(deps.pool, deps.gateways ?? []));
  app.use(purchaseRoutes(deps.pool, deps.temporal, deps.taskQueue));
  app.use((req, _res, next) => next(new ApiError(404, 'not_found', `no route for ${req.method} ${req.path}`)));
  app.use(errorHandler(deps.logger));
  return app;
}
