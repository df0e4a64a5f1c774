// Disputes (chargebacks) as facts from the gateways' webhooks, the state they leave a dispute in,
// and what a lost dispute does to the books.
//
// A lost dispute is not a refund: no credit note is issued and the invoice stays paid (the sale
// happened), but the money left our cash at the gateway, plus the gateway's dispute fee. Both are
// booked as losses, so revenue, tax and the receivable are untouched and the ledger still says
// what we earned and what it cost us:
//     debit  dispute_losses      disputed amount
//     debit  dispute_fees        the gateway's fee (when there is one)
//     credit cash:<gateway>      amount + fee
// A dispute the gateway reverses after it was lost gives the amount back to cash (the fee stays
// lost, as gateways keep it). Each entry is named after the dispute, so posting twice is a no-op.
//
// Events are applied in the gateway's order (when it says they happened), not in delivery
// order: an older event than the last one applied changes nothing.
import type { Currency } from './money';
import { isCurrency } from './money';

export type DisputeGateway = 'stripe' | 'paypal';
export type DisputeStatus = 'open' | 'won' | 'lost';

/** One webhook's facts about a dispute. */
export interface DisputeEvent {
  readonly eventId: string;
  readonly gateway: DisputeGateway;
  readonly disputeId: string;
  /** The disputed payment as the gateway names it (PaymentIntent, capture). */
  readonly paymentReference: string | null;
  readonly invoiceId: string | null;
  readonly status: DisputeStatus;
  /** The gateway's own status word, kept for people reading the record. */
  readonly gatewayStatus: string | null;
  readonly reason: string | null;
  /** Minor units; null when the event does not say. */
  readonly amount: number | null;
  readonly currency: Currency | null;
  /** The gateway's dispute fee in minor units, 0 when it names none. */
  readonly fee: number;
  /** When the gateway says it happened. */
  readonly occurredAt: string;
}

/** A dispute as recorded: what the latest event (in gateway order) said. */
export interface DisputeRecord {
  readonly id: string;
  readonly gateway: DisputeGateway;
  readonly paymentReference: string | null;
  readonly invoiceId: string | null;
  readonly status: DisputeStatus;
  readonly gatewayStatus: string | null;
  readonly reason: string | null;
  readonly amount: number | null;
  readonly currency: Currency | null;
  readonly fee: number;
  readonly openedAt: string;
  readonly closedAt: string | null;
  readonly lastEventAt: string;
}

export type DisputeAccount = 'dispute_losses' | 'dispute_fees' | `cash:${string}`;

export interface DisputeLedgerLine {
  readonly account: DisputeAccount;
  readonly debit: number;
  readonly credit: number;
}

/**
 * Same shape as domain/ledger.ts's JournalEntry, with the dispute accounts and kinds that
 * ledger.ts does not name yet; ledger_entries/ledger_lines store both as text.
 */
export interface DisputeJournalEntry {
  readonly id: string;
  readonly kind: 'dispute_lost' | 'dispute_reinstated';
  readonly currency: Currency;
  readonly occurredAt: string;
  readonly invoiceId: string | null;
  readonly lines: readonly DisputeLedgerLine[];
}

export class DisputeLedgerError extends Error {}

function nonNegativeInteger(value: number): boolean {
  return Number.isSafeInteger(value) && value >= 0;
}

function balanced(entry: DisputeJournalEntry): DisputeJournalEntry {
  let debits = 0;
  let credits = 0;
  for (const line of entry.lines) {
    if (!nonNegativeInteger(line.debit) || !nonNegativeInteger(line.credit)) {
      throw new DisputeLedgerError(`entry ${entry.id}: amounts must be non-negative integers`);
    }
    debits += line.debit;
    credits += line.credit;
  }
  if (debits !== credits) throw new DisputeLedgerError(`entry ${entry.id}: debits ${debits} != credits ${credits}`);
  return entry;
}

/** A chargeback: the disputed amount and the fee leave cash at the gateway as losses. */
export function disputeLostEntry(loss: {
  disputeId: string;
  invoiceId: string | null;
  gateway: DisputeGateway;
  currency: Currency;
  amount: number;
  fee?: number;
  at: string;
}): DisputeJournalEntry {
  const fee = loss.fee ?? 0;
  if (!Number.isSafeInteger(loss.amount) || loss.amount <= 0) {
    throw new DisputeLedgerError(`dispute ${loss.disputeId}: the lost amount must be a positive integer of minor units`);
  }
  if (!nonNegativeInteger(fee)) throw new DisputeLedgerError(`dispute ${loss.disputeId}: the fee must be a non-negative integer`);
  const lines: DisputeLedgerLine[] = [{ account: 'dispute_losses', debit: loss.amount, credit: 0 }];
  if (fee > 0) lines.push({ account: 'dispute_fees', debit: fee, credit: 0 });
  lines.push({ account: `cash:${loss.gateway}`, debit: 0, credit: loss.amount + fee });
  return balanced({
    id: `je_dispute_lost_${loss.disputeId}`,
    kind: 'dispute_lost',
    currency: loss.currency,
    occurredAt: loss.at,
    invoiceId: loss.invoiceId,
    lines,
  });
}

/** A lost dispute reversed by the gateway: the amount comes back to cash; the fee stays lost. */
export function disputeReinstatedEntry(reversal: {
  disputeId: string;
  invoiceId: string | null;
  gateway: DisputeGateway;
  currency: Currency;
  amount: number;
  at: string;
}): DisputeJournalEntry {
  if (!Number.isSafeInteger(reversal.amount) || reversal.amount <= 0) {
    throw new DisputeLedgerError(`dispute ${reversal.disputeId}: the reinstated amount must be a positive integer of minor units`);
  }
  return balanced({
    id: `je_dispute_reinstated_${reversal.disputeId}`,
    kind: 'dispute_reinstated',
    currency: reversal.currency,
    occurredAt: reversal.at,
    invoiceId: reversal.invoiceId,
    lines: [
      { account: `cash:${reversal.gateway}`, debit: reversal.amount, credit: 0 },
      { account: 'dispute_losses', debit: 0, credit: reversal.amount },
    ],
  });
}

/** What is known about the disputed payment from our own records, to fill what an event leaves out. */
export interface DisputedPayment {
  readonly invoiceId: string;
  readonly amount: number;
  readonly currency: Currency;
}

export type DisputeApplication =
  /** An event older than the last applied: only an earlier openedAt is taken from it. */
  | { readonly applied: false; readonly record: DisputeRecord; readonly reason: 'stale' }
  | {
      readonly applied: true;
      readonly record: DisputeRecord;
      readonly entries: readonly DisputeJournalEntry[];
      /** Set when a loss could not be booked (amount or currency unknown): someone must look. */
      readonly unbooked: string | null;
    };

/**
 * Applies an event to the recorded dispute (null: first event seen). Returns the new record and
 * the ledger entries the change calls for: a loss the first time the dispute is lost, a
 * reinstatement when a lost dispute is later won.
 */
export function applyDisputeEvent(current: DisputeRecord | null, event: DisputeEvent, payment: DisputedPayment | null = null): DisputeApplication {
  if (current && Date.parse(event.occurredAt) < Date.parse(current.lastEventAt)) {
    // Late news changes nothing, except that it may tell when the dispute really opened.
    const openedAt = Date.parse(event.occurredAt) < Date.parse(current.openedAt) ? event.occurredAt : current.openedAt;
    return { applied: false, record: { ...current, openedAt }, reason: 'stale' };
  }
  const amount = event.amount ?? current?.amount ?? payment?.amount ?? null;
  const currency = event.currency ?? current?.currency ?? payment?.currency ?? null;
  const closed = event.status !== 'open';
  const firstSeen = current ? (Date.parse(event.occurredAt) < Date.parse(current.openedAt) ? event.occurredAt : current.openedAt) : event.occurredAt;
  const record: DisputeRecord = {
    id: event.disputeId,
    gateway: event.gateway,
    paymentReference: event.paymentReference ?? current?.paymentReference ?? null,
    invoiceId: event.invoiceId ?? current?.invoiceId ?? payment?.invoiceId ?? null,
    status: event.status,
    gatewayStatus: event.gatewayStatus ?? current?.gatewayStatus ?? null,
    reason: event.reason ?? current?.reason ?? null,
    amount,
    currency,
    fee: event.fee > 0 ? event.fee : (current?.fee ?? 0),
    openedAt: firstSeen,
    closedAt: closed ? (current?.status === event.status && current.closedAt ? current.closedAt : event.occurredAt) : null,
    lastEventAt: event.occurredAt,
  };

  const entries: DisputeJournalEntry[] = [];
  let unbooked: string | null = null;
  const wasLost = current?.status === 'lost';
  const bookable = amount !== null && amount > 0 && currency !== null;
  if (record.status === 'lost' && !wasLost) {
    if (bookable) {
      entries.push(
        disputeLostEntry({ disputeId: record.id, invoiceId: record.invoiceId, gateway: record.gateway, currency, amount, fee: record.fee, at: event.occurredAt }),
      );
    } else {
      unbooked = `dispute ${record.id} was lost but its amount or currency is unknown: the loss is not booked`;
    }
  } else if (wasLost && record.status === 'won' && bookable) {
    entries.push(disputeReinstatedEntry({ disputeId: record.id, invoiceId: record.invoiceId, gateway: record.gateway, currency, amount, at: event.occurredAt }));
  }
  return { applied: true, record, entries, unbooked };
}

// ---------------------------------------------------------------------------------------------
// Webhook payloads -> DisputeEvent

type Json = Record<string, any>;

const str = (value: unknown): string | null => (typeof value === 'string' && value.length > 0 ? value : null);

// https://docs.stripe.com/api/disputes/object#dispute_object-status. An inquiry closed without a
// chargeback (warning_closed) and a prevented dispute leave the money with us: won.
const STRIPE_STATUSES: Readonly<Record<string, DisputeStatus>> = {
  won: 'won',
  warning_closed: 'won',
  prevented: 'won',
  lost: 'lost',
};

const STRIPE_DISPUTE_EVENTS = new Set([
  'charge.dispute.created',
  'charge.dispute.updated',
  'charge.dispute.closed',
  'charge.dispute.funds_withdrawn',
  'charge.dispute.funds_reinstated',
]);

function upperCurrency(value: unknown): Currency | null {
  const text = str(value)?.toUpperCase() ?? null;
  return text !== null && isCurrency(text) ? text : null;
}

/** An ISO instant, or null when the event carries no usable time (it could not be ordered). */
function instant(value: unknown): string | null {
  const time = typeof value === 'number' ? value * 1000 : typeof value === 'string' ? Date.parse(value) : Number.NaN;
  return Number.isFinite(time) ? new Date(time).toISOString() : null;
}

function minorUnits(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : null;
}

/** A Stripe charge.dispute.* event; null for anything else. */
export function disputeFromStripeEvent(event: Json): DisputeEvent | null {
  if (!STRIPE_DISPUTE_EVENTS.has(String(event.type))) return null;
  const dispute: Json = event.data?.object ?? {};
  const disputeId = str(dispute.id);
  const occurredAt = instant(event.created);
  if (dispute.object !== 'dispute' || disputeId === null || occurredAt === null) return null;
  const gatewayStatus = str(dispute.status);
  // The fee is on the balance transactions that withdrew (and maybe reinstated) the funds.
  const transactions: Json[] = Array.isArray(dispute.balance_transactions) ? dispute.balance_transactions : [];
  const fee = transactions.reduce((total, bt) => total + (typeof bt?.fee === 'number' && Number.isSafeInteger(bt.fee) ? bt.fee : 0), 0);
  return {
    eventId: String(event.id),
    gateway: 'stripe',
    disputeId,
    paymentReference: str(dispute.payment_intent),
    invoiceId: str(dispute.metadata?.invoice_id),
    status: (gatewayStatus && STRIPE_STATUSES[gatewayStatus]) || 'open',
    gatewayStatus,
    reason: str(dispute.reason),
    amount: minorUnits(dispute.amount),
    currency: upperCurrency(dispute.currency),
    fee: Math.max(0, fee),
    occurredAt,
  };
}

// https://developer.paypal.com/docs/api/customer-disputes/v1/ dispute_outcome.outcome_code.
const PAYPAL_OUTCOMES: Readonly<Record<string, DisputeStatus>> = {
  RESOLVED_BUYER_FAVOUR: 'lost',
  ACCEPTED: 'lost',
  RESOLVED_SELLER_FAVOUR: 'won',
  CANCELED_BY_BUYER: 'won',
  DENIED: 'won',
  // PayPal paid the buyer from its own pocket: the merchant keeps the money.
  RESOLVED_WITH_PAYOUT: 'won',
};

const PAYPAL_DISPUTE_EVENTS = new Set(['CUSTOMER.DISPUTE.CREATED', 'CUSTOMER.DISPUTE.UPDATED', 'CUSTOMER.DISPUTE.RESOLVED']);

/** '97.00' in a two-decimal currency -> 9700; null when it is not exactly that shape. */
function fromDecimal(value: unknown): number | null {
  const match = typeof value === 'string' ? /^(\d{1,13})(?:\.(\d{1,2}))?$/.exec(value) : null;
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? '').padEnd(2, '0'));
}

/** A PayPal CUSTOMER.DISPUTE.* event; null for anything else. */
export function disputeFromPayPalEvent(event: Json): DisputeEvent | null {
  if (!PAYPAL_DISPUTE_EVENTS.has(String(event.event_type))) return null;
  const resource: Json = event.resource ?? {};
  const disputeId = str(resource.dispute_id);
  const occurredAt = instant(event.create_time ?? resource.update_time ?? resource.create_time);
  if (disputeId === null || occurredAt === null) return null;
  const disputed: Json = resource.disputed_transactions?.[0] ?? {};
  const outcomeCode = str(resource.dispute_outcome?.outcome_code);
  const outcome = outcomeCode ? PAYPAL_OUTCOMES[outcomeCode] : undefined;
  // A resolved dispute whose outcome we cannot read stays open rather than guess who won.
  const status: DisputeStatus = outcome ?? 'open';
  // What the buyer got back decides the loss; the disputed amount when PayPal does not say.
  const money: Json = (status === 'lost' ? resource.dispute_outcome?.amount_refunded : undefined) ?? resource.dispute_amount ?? {};
  const currency = upperCurrency(money.currency_code);
  return {
    eventId: String(event.id),
    gateway: 'paypal',
    disputeId,
    paymentReference: str(disputed.seller_transaction_id),
    invoiceId: str(resource.invoice_id) ?? str(disputed.invoice_number) ?? str(disputed.custom),
    status,
    gatewayStatus: outcomeCode ?? str(resource.status),
    reason: str(resource.reason),
    amount: currency ? fromDecimal(money.value) : null,
    currency,
    fee: 0,
    occurredAt,
  };
}

/** A verified webhook payload as a dispute event; null when it is not about a dispute. */
export function disputeFromWebhook(gateway: DisputeGateway, payload: Json): DisputeEvent | null {
  return gateway === 'stripe' ? disputeFromStripeEvent(payload) : disputeFromPayPalEvent(payload);
}
