// All configuration comes from environment variables, validated once at start-up so a typo
// fails fast with the variable's name instead of misbehaving later.
import { z } from 'zod';

const schema = z.object({
  DATABASE_URL: z.string().url(),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  TEMPORAL_TASK_QUEUE: z.string().default('billing'),
  STRIPE_API_KEY: z.string().startsWith('sk_').default('sk_test_localsimulator'),
  /** Where the Stripe SDK sends requests: the local test-mode simulator unless told otherwise. */
  STRIPE_API_BASE: z.string().url().default('http://127.0.0.1:12113'),
  /** PayPal is the secondary gateway; without credentials the worker routes over Stripe alone. */
  PAYPAL_CLIENT_ID: z.string().optional(),
  PAYPAL_CLIENT_SECRET: z.string().optional(),
  PAYPAL_API_BASE: z.string().url().default('https://api-m.sandbox.paypal.com'),
  PAYPAL_WEBHOOK_ID: z.string().optional(),
  /** Stripe's signing secret for POST /webhooks/stripe (whsec_...). */
  STRIPE_WEBHOOK_SECRET: z.string().optional(),
  /** The worker serves Prometheus metrics (payment routing) here. */
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  PORT: z.coerce.number().int().min(1).max(65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  REQUEST_BODY_LIMIT: z.string().default('32kb'),
});

export type Env = z.infer<typeof schema>;

export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const parsed = schema.safeParse(source);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${problems}`);
  }
  return parsed.data;
}

/** host/port/protocol for the stripe SDK from a base URL. */
export function stripeEndpoint(base: string): { host: string; port: number; protocol: 'http' | 'https' } {
  const url = new URL(base);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  return { host: url.hostname, port: Number(url.port || (protocol === 'http' ? 80 : 443)), protocol };
}
