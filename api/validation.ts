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
    vatId: z.string().trim().regex(/^[A-Z]{2}[A-Z0-9]{2,13}$/, 'must be a VAT/GST number starting with its country code, e.g. DE123456789').optional(),
  })
  .strict()
  .refine((c) => !c.vatId || c.country, { path: ['country'], message: 'is required with a vatId' });

export const createSubscriptionBody = z
  .object({
    customerId: z.string().regex(/^cus_[A-Za-z0-9]+$/, 'must be a customer id (cus_...)'),
    plan: z.string().min(1).max(64),
    interval: z.enum(BILLING_INTERVALS),
    currency: z.enum(CURRENCIES).default('USD'),
    quantity: z.number().int().min(1).max(10_000).default(1),
    paymentMethod: paymentMethodToken,
    startAt: z.string().datetime({ offset: true }).optional(),
    /** false skips the plan's free trial (e.g. a returning customer). */
    trial: z.boolean().default(true),
    couponCode: z.string().trim().min(1).max(64).optional(),
  })
  .strict();

const instant = z.string().datetime({ offset: true });

export const pauseSubscriptionBody = z
  .object({
    /** shift: billing moves later by the paused days; keep: unused days are credited, dates stay. */
    anchor: z.enum(['shift', 'keep']).default('shift'),
    resumesAt: instant.optional(),
  })
  .strict();

export const changePlanBody = z
  .object({
    plan: z.string().min(1).max(64),
    interval: z.enum(BILLING_INTERVALS),
    quantity: z.number().int().min(1).max(10_000).optional(),
  })
  .strict();

export const changeQuantityBody = z.object({ quantity: z.number().int().min(1).max(10_000) }).strict();

export const changeAnchorBody = z.object({ billingAnchor: instant }).strict();

export const reactivateSubscriptionBody = z
  .object({
    plan: z.string().min(1).max(64).optional(),
    interval: z.enum(BILLING_INTERVALS).optional(),
    quantity: z.number().int().min(1).max(10_000).optional(),
  })
  .strict()
  .refine((b) => (b.plan === undefined) === (b.interval === undefined), { path: ['interval'], message: 'plan and interval go together' });

export const applyCouponBody = z.object({ couponCode: z.string().trim().min(1).max(64) }).strict();

export const emptyBody = z.object({}).strict();

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
