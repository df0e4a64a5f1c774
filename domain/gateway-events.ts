// Gateway webhook events, normalised to the few facts a subscription acts on. Pure mapping from
// Stripe's and PayPal's event JSON; the API stores and signals, the workflow applies.

export type GatewayEventKind =
  | 'payment_succeeded'
  | 'payment_failed'
  | 'dispute_opened'
  | 'dispute_closed'
  | 'refunded'
  | 'payment_method_updated'
  | 'payment_method_expiring';

export interface GatewayEvent {
  readonly eventId: string;
  readonly gateway: 'stripe' | 'paypal';
  readonly kind: GatewayEventKind;
  /** When the gateway says it happened: the order of application, whatever the delivery order. */
  readonly occurredAt: string;
  /** The charge (PaymentIntent / capture) the event is about, when it is about one. */
  readonly paymentReference: string | null;
  readonly invoiceId: string | null;
  readonly subscriptionId: string | null;
  readonly gatewayCustomerId: string | null;
  readonly declineCode: string | null;
  readonly disputeId: string | null;
  readonly disputeOutcome: string | null;
  readonly token: string | null;
}

type Json = Record<string, any>;

const STRIPE_KINDS: Record<string, GatewayEventKind> = {
  'payment_intent.succeeded': 'payment_succeeded',
  'payment_intent.payment_failed': 'payment_failed',
  'charge.dispute.created': 'dispute_opened',
  'charge.dispute.closed': 'dispute_closed',
  'charge.refunded': 'refunded',
  'payment_method.updated': 'payment_method_updated',
  'payment_method.automatically_updated': 'payment_method_updated',
  'customer.source.expiring': 'payment_method_expiring',
};

const PAYPAL_KINDS: Record<string, GatewayEventKind> = {
  'PAYMENT.CAPTURE.COMPLETED': 'payment_succeeded',
  'PAYMENT.CAPTURE.DENIED': 'payment_failed',
  'PAYMENT.CAPTURE.DECLINED': 'payment_failed',
  'PAYMENT.CAPTURE.REFUNDED': 'refunded',
  'CUSTOMER.DISPUTE.CREATED': 'dispute_opened',
  'CUSTOMER.DISPUTE.RESOLVED': 'dispute_closed',
  'VAULT.PAYMENT-TOKEN.CREATED': 'payment_method_updated',
};

const str = (value: unknown): string | null => (typeof value === 'string' && value.length > 0 ? value : null);

/** null for an event type we do not act on (it is acknowledged and logged). */
export function normaliseStripeEvent(event: Json): GatewayEvent | null {
  const kind = STRIPE_KINDS[String(event.type)];
  if (!kind) return null;
  const object: Json = event.data?.object ?? {};
  const metadata: Json = object.metadata ?? {};
  const isPaymentIntent = object.object === 'payment_intent';
  return {
    eventId: String(event.id),
    gateway: 'stripe',
    kind,
    occurredAt: new Date(Number(event.created) * 1000).toISOString(),
    paymentReference: isPaymentIntent ? str(object.id) : str(object.payment_intent),
    invoiceId: str(metadata.invoice_id),
    subscriptionId: str(metadata.subscription_id),
    gatewayCustomerId: str(object.customer),
    declineCode: str(object.last_payment_error?.decline_code) ?? str(object.last_payment_error?.code),
    disputeId: object.object === 'dispute' ? str(object.id) : null,
    disputeOutcome: object.object === 'dispute' ? str(object.status) : null,
    token: object.object === 'payment_method' ? str(object.id) : null,
  };
}

export function normalisePayPalEvent(event: Json): GatewayEvent | null {
  const kind = PAYPAL_KINDS[String(event.event_type)];
  if (!kind) return null;
  const resource: Json = event.resource ?? {};
  const isDispute = kind === 'dispute_opened' || kind === 'dispute_closed';
  const disputed: Json = resource.disputed_transactions?.[0] ?? {};
  return {
    eventId: String(event.id),
    gateway: 'paypal',
    kind,
    occurredAt: new Date(String(event.create_time)).toISOString(),
    paymentReference: isDispute ? str(disputed.seller_transaction_id) : str(resource.id),
    invoiceId: str(resource.invoice_id) ?? str(resource.custom_id),
    subscriptionId: null,
    gatewayCustomerId: null,
    declineCode: kind === 'payment_failed' ? (str(resource.status_details?.reason) ?? 'declined') : null,
    disputeId: isDispute ? str(resource.dispute_id) : null,
    disputeOutcome: isDispute ? str(resource.dispute_outcome?.outcome_code) ?? str(resource.status) : null,
    token: kind === 'payment_method_updated' ? str(resource.id) : null,
  };
}
