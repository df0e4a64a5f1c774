// The one interface every payment gateway adapter implements. Results are normalized so the
// router, the workflows and the dunning policy never see a gateway's own error shapes.
import type { Currency, Money } from '../domain/money';

export type GatewayName = 'stripe' | 'paypal';

export interface ChargeRequest {
  readonly amount: Money;
  /** The customer's id at this gateway (Stripe: cus_...). */
  readonly gatewayCustomerId?: string;
  /** A gateway token for a saved payment method (Stripe: pm_...). Never card data. */
  readonly paymentMethodToken: string;
  /** Stable per invoice attempt: a retried or replayed call must reuse it. */
  readonly idempotencyKey: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
}

export type ChargeOutcome =
  | { readonly status: 'succeeded'; readonly gateway: GatewayName; readonly reference: string }
  | {
      readonly status: 'declined';
      readonly gateway: GatewayName;
      readonly reference?: string;
      readonly declineCode: string;
      readonly message: string;
    }
  | { readonly status: 'requires_action'; readonly gateway: GatewayName; readonly reference: string }
  | {
      readonly status: 'gateway_error';
      readonly gateway: GatewayName;
      /** True when the gateway may have charged although we got no answer (timeout, lost response). */
      readonly ambiguous: boolean;
      readonly message: string;
    };

export interface CreateCustomerRequest {
  readonly customerId: string;
  readonly email: string;
  readonly name: string;
  readonly idempotencyKey: string;
}

/** Why money goes back, in the business's words (the API's vocabulary, mapped per gateway). */
export const REFUND_REASONS = ['requested_by_customer', 'duplicate', 'fraudulent', 'service_not_delivered'] as const;
export type RefundReason = (typeof REFUND_REASONS)[number];

export interface RefundRequest {
  /** What charge() reported as reference: the PaymentIntent (Stripe) or capture (PayPal) to refund. */
  readonly gatewayReference: string;
  /** Minor units, > 0, at most what is left unrefunded on the payment. */
  readonly amount: number;
  readonly currency: Currency;
  /** Stable per refund (the credit note id): a retried call must reuse it and refunds once. */
  readonly idempotencyKey: string;
  readonly reason: RefundReason;
  readonly metadata?: Readonly<Record<string, string>>;
}

export type RefundOutcome =
  | { readonly outcome: 'succeeded'; readonly gateway: GatewayName; readonly reference: string }
  /**
   * Not final: the gateway accepted the refund and settles it later (reference known), or gave
   * no answer we can trust (reference null: timeout, 5xx, rate limit). Either way, asking again
   * with the same idempotency key is safe and tells.
   */
  | { readonly outcome: 'pending'; readonly gateway: GatewayName; readonly reference: string | null; readonly message: string }
  /** The gateway refused or gave up; no money moves under this key. */
  | {
      readonly outcome: 'failed';
      readonly gateway: GatewayName;
      readonly reference: string | null;
      readonly code: string;
      readonly message: string;
    };

export interface Gateway {
  readonly name: GatewayName;
  createCustomer(request: CreateCustomerRequest): Promise<{ gatewayCustomerId: string }>;
  charge(request: ChargeRequest): Promise<ChargeOutcome>;
  /** Resolves an ambiguous outcome: what happened to the charge made with this key, if any. */
  findCharge(idempotencyKey: string): Promise<ChargeOutcome | null>;
  /**
   * Optional: like findCharge, given the very request that was (or may have been) sent. For
   * adapters that can look a charge up exactly only with the request's content at hand, also in
   * a process that did not send it (PayPal: replaying the money-free create-order call with the
   * same PayPal-Request-Id). Must never move money. The router prefers it over findCharge.
   */
  resolveCharge?(request: ChargeRequest): Promise<ChargeOutcome | null>;
  /**
   * Pays back (part of) a payment this gateway took, with the caller's idempotency key. Refunds
   * are never routed elsewhere: money goes back the way it came.
   */
  refund(request: RefundRequest): Promise<RefundOutcome>;
}

/** Which gateway a saved-method token belongs to: Stripe's are pm_..., anything else is PayPal's. */
export function gatewayOfToken(token: string): GatewayName {
  return token.startsWith('pm_') ? 'stripe' : 'paypal';
}
