// Request schemas. Strict objects: an unknown field is an error, not something silently ignored.
import { z } from 'zod';
import { BILLING_INTERVALS } from '../domain/calendar';
import { CURRENCIES } from '../domain/money';
import { invalidField } from './errors';

/** A gateway payment-method token; anything else (a card number above all) is refused. */
export const paymentMethodToken = z
  .string()
  .max(255)
  .regex(/^pm_[A-Za-z0-9_]+$/, 'must be a Stripe payment method token (pm_...); card numbers are never accepted');

/** A PayPal vaulted payment token: letters and digits, never only digits (that is a card number). */
export const payPalToken = z
  .string()
  .regex(/^(?!\d+$)[A-Za-z0-9_-]{4,128}$/, 'must be a PayPal vault token; card numbers are never accepted');

export const savePaymentMethodBody = z
  .object({
    gateway: z.enum(['stripe', 'paypal']),
    token: z.string().max(255),
    role: z.enum(['default', 'backup']).default('backup'),
    cardExpiresOn: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'must be a date YYYY-MM-DD').optional(),
  })
  .strict()
  .superRefine((value, ctx) => {
    const check = value.gateway === 'stripe' ? paymentMethodToken : payPalToken;
    const parsed = check.safeParse(value.token);
    if (!parsed.success) ctx.addIssue({ code: 'custom', path: ['token'], message: parsed.error.issues[0]!.message });
  });

export const createCustomerBody = z
  .object({
    email: z.string().email().max(320),
    name: z.string().trim().min(1).max(200),
    country: z.string().regex(/^[A-Z]{2}$/, 'must be an ISO 3166-1 alpha-2 code such as US').optional(),
  })
  .strict();

export const createSubscriptionBody = z
  .object({
    customerId: z.string().regex(/^cus_[A-Za-z0-9]+$/, 'must be a customer id (cus_...)'),
    plan: z.string().min(1).max(64),
    interval: z.enum(BILLING_INTERVALS),
    currency: z.enum(CURRENCIES).default('USD'),
    quantity: z.number().int().min(1).max(10_000).default(1),
    paymentMethod: paymentMethodToken,
    startAt: z.string().datetime({ offset: true }).optional(),
  })
  .strict();

export const cancelSubscriptionBody = z
  .object({
    when: z.enum(['period_end', 'now']).default('period_end'),
    reason: z.string().max(500).optional(),
  })
  .strict();

export function parseBody<T extends z.ZodTypeAny>(schema: T, body: unknown): z.infer<T> {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw invalidField('body', 'must be a JSON object');
  }
  const parsed = schema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  if (issue.code === 'unrecognized_keys') {
    throw invalidField(issue.keys[0] ?? 'body', 'unknown field');
  }
  const field = issue.path.join('.') || 'body';
  throw invalidField(field, issue.message);
}
