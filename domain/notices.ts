// The customer notices of dunning and card upkeep, as plain text templates. The outbox sender
// delivers them; this module only says what each notice says and how it is keyed, so that a
// replayed workflow or a retried activity never sends the same notice twice.
import { DAY_MS } from './calendar';
import type { CustomerAction } from './declines';
import { formatMoney, type Money } from './money';

export const NOTICE_KINDS = ['payment_failed', 'action_required', 'final_notice', 'recovered', 'card_expiring_soon'] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

/** What the business does when dunning ends without payment (per plan, see domain/dunning). */
export type EndAction = 'cancel' | 'pause' | 'mark_unpaid';

/** How many days before a card expires the card-expiring notice goes out. */
export const CARD_EXPIRY_NOTICE_DAYS = 30;

/**
 * One key per notice and dunning step: `notice:<kind>:<invoiceId>:<step>`. The step is the
 * number of charge attempts made on the invoice when the notice was decided, so a second
 * action-required notice after a new card also fails is a different notice, while a replay of
 * the same decision is the same one. The card-expiring notice has no invoice: its subject is the
 * payment method reference and its step the expiry month (`2032-02`).
 */
export function noticeIdempotencyKey(kind: NoticeKind, invoiceId: string, step: number | string): string {
  if (invoiceId === '' || invoiceId.includes(':')) throw new RangeError(`invalid notice subject '${invoiceId}'`);
  return `notice:${kind}:${invoiceId}:${step}`;
}

export interface NoticeContext {
  readonly customerName: string;
  readonly productName: string;
  readonly invoiceId: string;
  readonly amount: Money;
  /** Where the customer updates the payment method (a signed, expiring link made by the caller). */
  readonly updatePaymentUrl: string;
  /** The next automatic retry, when one is scheduled. */
  readonly nextRetryAt?: string | null;
  /** When dunning ends without payment, and what happens then. */
  readonly endsAt?: string;
  readonly endAction?: EndAction;
  /** What the customer should do, from the decline classification. */
  readonly customerAction?: CustomerAction;
  /** When access stops (the end of the grace period), if it has not already. */
  readonly accessUntil?: string;
  /** Card-expiring notice: the card's brand, last four digits and expiry (never the number). */
  readonly card?: { readonly brand: string; readonly last4: string; readonly expMonth: number; readonly expYear: number };
}

export interface RenderedNotice {
  readonly subject: string;
  readonly text: string;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** "March 5, 2032" from an instant, in UTC: deterministic whatever the server's locale. */
export function formatNoticeDate(instant: string): string {
  const d = new Date(instant);
  return `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`;
}

const ACTION_SENTENCE: Readonly<Record<CustomerAction, string>> = {
  none: 'You can also use a different card or payment method.',
  update_payment_method: 'Your bank will not accept further payments with this payment method, so please add a new one.',
  update_expired_card: 'Your card has expired, so please update your card details.',
  update_card_details: 'Your bank could not verify the card details, so please check and re-enter them.',
  authenticate: 'Your bank needs you to confirm this payment, so please approve it.',
  contact_issuer: 'Your bank asks you to contact them; once they approve it, confirm the payment or add another method.',
};

const END_SENTENCE: Readonly<Record<EndAction, string>> = {
  cancel: 'your subscription will be canceled',
  pause: 'your subscription will be paused',
  mark_unpaid: 'your subscription will be suspended until the invoice is paid',
};

function lines(...parts: (string | null | undefined | false)[]): string {
  return parts.filter((part): part is string => typeof part === 'string').join('\n');
}

/** Subject and plain-text body of a notice. Throws when the context lacks what the kind needs. */
export function renderNotice(kind: NoticeKind, c: NoticeContext): RenderedNotice {
  const amount = formatMoney(c.amount);
  const greeting = `Hi ${c.customerName},`;
  const signature = `Invoice ${c.invoiceId}`;
  switch (kind) {
    case 'payment_failed':
      return {
        subject: `Your payment of ${amount} for ${c.productName} did not go through`,
        text: lines(
          greeting,
          '',
          `We could not collect ${amount} for ${c.productName}.`,
          c.nextRetryAt ? `We will try again on ${formatNoticeDate(c.nextRetryAt)}; there is nothing you need to do if your card is fine.` : null,
          c.accessUntil ? `Your access continues until ${formatNoticeDate(c.accessUntil)} while we sort this out.` : null,
          ACTION_SENTENCE[c.customerAction ?? 'none'],
          `Update your payment method: ${c.updatePaymentUrl}`,
          '',
          signature,
        ),
      };
    case 'action_required':
      return {
        subject: `Action required: update your payment method for ${c.productName}`,
        text: lines(
          greeting,
          '',
          `We could not collect ${amount} for ${c.productName}.`,
          ACTION_SENTENCE[c.customerAction ?? 'update_payment_method'],
          `Update your payment method: ${c.updatePaymentUrl}`,
          'We will charge the new payment method as soon as you add it.',
          c.endsAt && c.endAction ? `If the invoice is still unpaid on ${formatNoticeDate(c.endsAt)}, ${END_SENTENCE[c.endAction]}.` : null,
          '',
          signature,
        ),
      };
    case 'final_notice': {
      if (!c.endsAt || !c.endAction) throw new RangeError('a final notice needs endsAt and endAction');
      return {
        subject: `Final notice: ${c.productName} ends on ${formatNoticeDate(c.endsAt)} unless ${amount} is paid`,
        text: lines(
          greeting,
          '',
          `${amount} for ${c.productName} is still unpaid.`,
          c.nextRetryAt ? `We will make a last attempt on ${formatNoticeDate(c.nextRetryAt)}.` : null,
          `If it is not paid by ${formatNoticeDate(c.endsAt)}, ${END_SENTENCE[c.endAction]}.`,
          `Update your payment method: ${c.updatePaymentUrl}`,
          '',
          signature,
        ),
      };
    }
    case 'recovered':
      return {
        subject: `Payment received: ${amount} for ${c.productName}`,
        text: lines(greeting, '', `Thank you: we received ${amount} for ${c.productName}. Your subscription is active again.`, '', signature),
      };
    case 'card_expiring_soon': {
      if (!c.card) throw new RangeError('a card-expiring notice needs the card');
      const expiry = `${String(c.card.expMonth).padStart(2, '0')}/${c.card.expYear}`;
      return {
        subject: `Your ${c.card.brand} card ending ${c.card.last4} expires at the end of ${expiry}`,
        text: lines(
          greeting,
          '',
          `The ${c.card.brand} card ending ${c.card.last4} that pays for ${c.productName} expires at the end of ${expiry}.`,
          'Please update your card so that your next payment goes through.',
          `Update your payment method: ${c.updatePaymentUrl}`,
        ),
      };
    }
  }
}

/**
 * When the card-expiring notice goes out: CARD_EXPIRY_NOTICE_DAYS before the card stops working.
 * A card is valid through the last day of its expiry month, so it stops working at midnight UTC
 * on the first day of the next month (issuers differ by a few hours of time zone; a notice is
 * not that precise).
 */
export function cardExpiringNoticeAt(expMonth: number, expYear: number, daysBefore: number = CARD_EXPIRY_NOTICE_DAYS): string {
  if (!Number.isInteger(expMonth) || expMonth < 1 || expMonth > 12) throw new RangeError(`invalid expiry month ${expMonth}`);
  if (!Number.isInteger(expYear) || expYear < 2000 || expYear > 9999) throw new RangeError(`invalid expiry year ${expYear}`);
  const stopsWorking = Date.UTC(expYear, expMonth, 1); // month index expMonth = the month after
  return new Date(stopsWorking - daysBefore * DAY_MS).toISOString();
}

/** The card-expiring notice's idempotency key: one per payment method and expiry. */
export function cardExpiringNoticeKey(paymentMethodRef: string, expMonth: number, expYear: number): string {
  return noticeIdempotencyKey('card_expiring_soon', paymentMethodRef, `${expYear}-${String(expMonth).padStart(2, '0')}`);
}
