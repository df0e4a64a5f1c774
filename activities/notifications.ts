// Customer notices, written to the outbox by activities and delivered by notifications/sender.ts.
// Each notice is keyed by its idempotency key (domain/notices), so an activity that Temporal runs
// again after a timeout, a worker crash or a replay finds its row already there and enqueues
// nothing: one row, one email.
import { ApplicationFailure } from '@temporalio/activity';
import type { DatabasePool } from 'slonik';
import { sql } from 'slonik';
import { z } from 'zod';
import { findCustomer } from '../db/customers';
import { cancelPendingNotices, enqueueNotice } from '../db/notifications';
import { findProduct } from '../domain/catalog';
import { DAY_MS } from '../domain/calendar';
import { isCurrency, money, type Money } from '../domain/money';
import {
  CARD_EXPIRY_NOTICE_DAYS,
  NOTICE_KINDS,
  cardExpiringNoticeAt,
  cardExpiringNoticeKey,
  renderNotice,
  type NoticeContext,
  type NoticeKind,
  type RenderedNotice,
} from '../domain/notices';

/** Where a notice sends the customer to update the payment method. */
export type UpdatePaymentUrl = (target: { customerId: string; invoiceId: string | null }) => string;

export const DEFAULT_PUBLIC_BASE_URL = 'http://localhost:3000';

/** `${baseUrl}/pay/update?customer=...&invoice=...`: the page that takes a new payment method. */
export function updatePaymentUrlFrom(baseUrl: string): UpdatePaymentUrl {
  const base = baseUrl.replace(/\/+$/, '');
  return ({ customerId, invoiceId }) => {
    const query = new URLSearchParams({ customer: customerId });
    if (invoiceId !== null) query.set('invoice', invoiceId);
    return `${base}/pay/update?${query.toString()}`;
  };
}

export interface NotificationDependencies {
  readonly pool: DatabasePool;
  readonly updatePaymentUrl: UpdatePaymentUrl;
}

export interface EnqueueNoticeRequest {
  readonly idempotencyKey: string;
  readonly kind: NoticeKind;
  readonly customerId: string;
  readonly invoiceId: string | null;
  /** Not delivered before this instant (ISO 8601): now, or later for a final notice. */
  readonly sendAfter: string;
  /** Everything the notice says except what this activity looks up (name) or makes (the link). */
  readonly context: Omit<NoticeContext, 'customerName' | 'updatePaymentUrl'>;
}

export interface CardExpiryScanRequest {
  /** The scan's instant (ISO 8601). */
  readonly now: string;
  /** Notices due up to this many days after `now` are enqueued now (default 7: a weekly scan misses none). */
  readonly horizonDays?: number;
}

export const DEFAULT_CARD_EXPIRY_HORIZON_DAYS = 7;

/** Notices for a customer without a live subscription still need a product to name. */
const NO_SUBSCRIPTION_PRODUCT = 'your account';

export function createNotificationActivities({ pool, updatePaymentUrl }: NotificationDependencies) {
  return {
    /** Renders the notice for the customer and writes it to the outbox, once per key. */
    async enqueueNotice(request: EnqueueNoticeRequest): Promise<{ enqueued: boolean }> {
      if (!(NOTICE_KINDS as readonly string[]).includes(request.kind)) {
        throw ApplicationFailure.nonRetryable(`unknown notice kind '${request.kind}'`, 'InvalidNotice');
      }
      const customer = await findCustomer(pool, request.customerId);
      if (!customer) throw ApplicationFailure.nonRetryable(`customer ${request.customerId} does not exist`, 'UnknownCustomer');
      const rendered = renderOrRefuse(() =>
        renderNotice(request.kind, {
          ...request.context,
          customerName: customer.name,
          updatePaymentUrl: updatePaymentUrl({ customerId: customer.id, invoiceId: request.invoiceId }),
        }),
      );
      const enqueued = await enqueueNotice(pool, {
        idempotencyKey: request.idempotencyKey,
        kind: request.kind,
        recipient: customer.email,
        subject: rendered.subject,
        body: rendered.text,
        customerId: customer.id,
        invoiceId: request.invoiceId,
        sendAfter: request.sendAfter,
      });
      return { enqueued };
    },

    /** Drops the invoice's notices that have not gone out (e.g. the final notice once dunning recovered). */
    async cancelPendingNotices(request: { invoiceId: string; kinds?: NoticeKind[] }): Promise<{ canceled: number }> {
      return { canceled: await cancelPendingNotices(pool, request.invoiceId, request.kinds) };
    },

    /**
     * Enqueues one card-expiring notice per saved card and expiry month, due CARD_EXPIRY_NOTICE_DAYS
     * before the card stops working, for the cards whose notice falls within the horizon and that
     * still work at `now`. Running it again (the same day or the next) enqueues nothing twice.
     */
    async scheduleCardExpiryNotices(request: CardExpiryScanRequest): Promise<{ enqueued: number }> {
      const horizonDays = request.horizonDays ?? DEFAULT_CARD_EXPIRY_HORIZON_DAYS;
      const now = Date.parse(request.now);
      if (Number.isNaN(now)) throw ApplicationFailure.nonRetryable(`invalid scan instant '${request.now}'`, 'InvalidRequest');
      let enqueued = 0;
      for (const card of await findCardsNearExpiry(pool, request.now, horizonDays)) {
        const [expYear, expMonth] = card.card_expires_on.split('-').map(Number) as [number, number];
        const noticeAt = cardExpiringNoticeAt(expMonth, expYear);
        const stopsWorking = cardExpiringNoticeAt(expMonth, expYear, 0);
        if (Date.parse(noticeAt) > now + horizonDays * DAY_MS || Date.parse(stopsWorking) <= now) continue;
        const rendered = renderCardExpiringNotice(
          {
            customerName: card.customer_name,
            productName: card.plan_id ? (findProduct(card.plan_id)?.name ?? NO_SUBSCRIPTION_PRODUCT) : NO_SUBSCRIPTION_PRODUCT,
            invoiceId: '',
            amount: subscriptionAmount(card),
            updatePaymentUrl: updatePaymentUrl({ customerId: card.customer_id, invoiceId: null }),
          },
          { brand: card.card_brand, last4: card.card_last4, expMonth, expYear },
        );
        const isNew = await enqueueNotice(pool, {
          idempotencyKey: cardExpiringNoticeKey(paymentMethodRef(card.id), expMonth, expYear),
          kind: 'card_expiring_soon',
          recipient: card.customer_email,
          subject: rendered.subject,
          body: rendered.text,
          customerId: card.customer_id,
          invoiceId: null,
          sendAfter: noticeAt,
        });
        if (isNew) enqueued += 1;
      }
      return { enqueued };
    },
  };
}

export type NotificationActivities = ReturnType<typeof createNotificationActivities>;

/**
 * The payment method as a notice key names it: the row id, not the gateway token (the same test
 * token can belong to many customers, and the key travels in email headers).
 */
export function paymentMethodRef(paymentMethodId: number): string {
  return `payment-method-${paymentMethodId}`;
}

// A notice the context cannot render (a final notice without its end date) will not render on a
// retry either: fail the activity for good so the workflow sees it.
function renderOrRefuse(render: () => RenderedNotice): RenderedNotice {
  try {
    return render();
  } catch (error) {
    if (error instanceof RangeError) throw ApplicationFailure.nonRetryable(error.message, 'InvalidNotice');
    throw error;
  }
}

const cardNearExpiryRow = z.object({
  id: z.number(),
  customer_id: z.string(),
  customer_email: z.string(),
  customer_name: z.string(),
  card_expires_on: z.string(),
  card_brand: z.string().nullable(),
  card_last4: z.string().nullable(),
  plan_id: z.string().nullable(),
  unit_amount: z.number().nullable(),
  currency: z.string().nullable(),
});
type CardNearExpiry = z.infer<typeof cardNearExpiryRow>;

/**
 * Saved cards whose expiry is roughly near: a coarse date window in SQL (a card is valid through
 * its expiry month), the exact rule (domain/notices) applied by the caller. Each with its
 * customer and the customer's oldest live subscription, whose product the notice names.
 */
async function findCardsNearExpiry(db: DatabasePool, now: string, horizonDays: number): Promise<readonly CardNearExpiry[]> {
  return db.any(sql.type(cardNearExpiryRow)`
    SELECT pm.id, pm.customer_id, c.email AS customer_email, c.name AS customer_name, pm.card_expires_on,
           pm.card_brand, pm.card_last4, s.plan_id, s.unit_amount, s.currency
    FROM payment_methods pm
    JOIN customers c ON c.id = pm.customer_id
    LEFT JOIN LATERAL (
      SELECT plan_id, unit_amount, currency::text AS currency FROM subscriptions
      WHERE customer_id = pm.customer_id AND status <> 'canceled'
      ORDER BY created_at, id LIMIT 1
    ) s ON true
    WHERE pm.detached_at IS NULL AND pm.card_expires_on IS NOT NULL
      AND pm.card_expires_on >= (${now}::timestamptz AT TIME ZONE 'UTC')::date - 31
      AND pm.card_expires_on <= (${now}::timestamptz AT TIME ZONE 'UTC')::date + ${horizonDays + CARD_EXPIRY_NOTICE_DAYS}::integer
    ORDER BY pm.id`);
}

// The card-expiring notice does not show an amount, but the template formats one.
function subscriptionAmount(card: CardNearExpiry): Money {
  if (card.unit_amount !== null && card.currency !== null && isCurrency(card.currency)) return money(card.unit_amount, card.currency);
  return money(0, 'USD');
}

const BRAND_NAMES: Readonly<Record<string, string>> = {
  visa: 'Visa',
  mastercard: 'Mastercard',
  amex: 'American Express',
  discover: 'Discover',
  diners: 'Diners Club',
  jcb: 'JCB',
  unionpay: 'UnionPay',
};

/**
 * The card-expiring notice. Cards saved before the gateway reported brand and last four digits
 * have neither; their notice says "your saved card" instead of inventing them, still rendered by
 * the domain's template so the wording stays in one place.
 */
export function renderCardExpiringNotice(
  context: Omit<NoticeContext, 'card'>,
  card: { brand: string | null; last4: string | null; expMonth: number; expYear: number },
): RenderedNotice {
  const { expMonth, expYear } = card;
  if (card.brand && card.last4) {
    const brand = BRAND_NAMES[card.brand.toLowerCase()] ?? card.brand;
    return renderNotice('card_expiring_soon', { ...context, card: { brand, last4: card.last4, expMonth, expYear } });
  }
  const brand = '\u0000brand\u0000';
  const last4 = '\u0000last4\u0000';
  const rendered = renderNotice('card_expiring_soon', { ...context, card: { brand, last4, expMonth, expYear } });
  const unnamed = (text: string) => text.split(`${brand} card ending ${last4}`).join('saved card').split(brand).join('saved').split(last4).join('');
  return { subject: unnamed(rendered.subject), text: unnamed(rendered.text) };
}
