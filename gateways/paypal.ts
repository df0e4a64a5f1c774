// PayPal adapter behind the Gateway interface, on PayPal's maintained server SDK
// (@paypal/paypal-server-sdk, Orders v2). One order per invoice attempt, charged off-session
// against a vaulted payment token. PayPal's answers and errors become ChargeOutcome values; only
// programming or configuration faults are thrown.
//
// The charge is two calls, each with a PayPal-Request-Id derived from our idempotency key:
//   1. POST /v2/checkout/orders (intent CAPTURE, amount, no payment_source)       `<key>:create`
//   2. POST /v2/checkout/orders/{id}/capture with payment_source = the vaulted token `<key>:capture`
// The vaulted token goes into the capture, not into the create: PayPal processes a create that
// carries a vaulted payment_source at once ("single-step create order", the SDK's docs on
// PayPal-Request-Id), so a create whose answer is lost could have moved money while we hold no
// order id to look it up by. With the token in the capture the create never moves money, and
// every ambiguous outcome can be resolved exactly (see findCharge / resolveCharge).
//
// A retried charge with the same key is safe: PayPal answers a repeated PayPal-Request-Id with
// "the latest status of the previous request", so the create returns the same order and the
// capture returns that order's capture instead of capturing again.
//
// createCustomer is a no-op: charging a vaulted PayPal token needs no customer object at PayPal
// (the vault token identifies the payer). It returns our own customer id, unchanged, as the
// "gateway customer id" so callers that store one get a stable, deterministic value.
import { createHash } from 'node:crypto';
import {
  ApiError,
  ArgumentsValidationError,
  CaptureStatus,
  CheckoutPaymentIntent,
  Client,
  Environment,
  OrdersController,
  OrderStatus,
  PaymentInitiator,
  PaymentsController,
  RefundStatus,
  StoredPaymentSourcePaymentType,
  StoredPaymentSourceUsageType,
  TokenType,
  UsagePattern,
  type OAuthToken,
  type Order,
  type OrderCaptureRequestPaymentSource,
  type OrderRequest,
  type OrdersCapture,
  type Refund,
} from '@paypal/paypal-server-sdk';
import type { Currency, Money } from '../domain/money';
import type { ChargeOutcome, ChargeRequest, CreateCustomerRequest, Gateway, RefundOutcome, RefundReason, RefundRequest } from './gateway';

export interface PayPalGatewayConfig {
  readonly clientId: string;
  readonly clientSecret: string;
  /**
   * https://api-m.paypal.com (live), https://api-m.sandbox.paypal.com (PayPal's sandbox), or a
   * local stand-in such as test/peers/paypal-sandbox.ts (plain http only on a loopback host).
   */
  readonly baseUrl: string;
  /** Per HTTP request; past it the outcome of a capture is ambiguous. */
  readonly timeoutMs?: number;
}

export interface PayPalWebhookVerification {
  /** The delivery's HTTP headers (any case): PAYPAL-TRANSMISSION-ID, -TIME, -SIG, PAYPAL-CERT-URL, PAYPAL-AUTH-ALGO. */
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** The raw body as received. */
  readonly body: string;
  /** The id PayPal gave the webhook subscription. */
  readonly webhookId: string;
}

export interface PayPalGateway extends Gateway {
  readonly name: 'paypal';
  resolveCharge(request: ChargeRequest): Promise<ChargeOutcome | null>;
  /** PayPal's verify-webhook-signature API; throws when PayPal cannot be asked (the sender should retry). */
  verifyWebhookSignature(request: PayPalWebhookVerification): Promise<boolean>;
}

const DEFAULT_TIMEOUT_MS = 20_000;
const LIVE_URL = 'https://api-m.paypal.com';
const SANDBOX_URL = 'https://api-m.sandbox.paypal.com';
/** Orders remembered per idempotency key for findCharge (oldest forgotten first). */
const REMEMBERED_ORDERS = 10_000;

// ---------------------------------------------------------------------------------------------
// Amounts: integer minor units <-> PayPal's decimal strings, by string arithmetic only

const PAYPAL_DECIMALS: Readonly<Record<Currency, number>> = { USD: 2, EUR: 2, GBP: 2 };

/** 9700 USD -> { currencyCode: 'USD', value: '97.00' }. Charges are positive. */
export function toPayPalAmount(money: Money): { currencyCode: string; value: string } {
  if (!Number.isSafeInteger(money.amount) || money.amount <= 0) {
    throw new RangeError(`a PayPal amount must be a positive integer of minor units, got ${money.amount}`);
  }
  const digits = PAYPAL_DECIMALS[money.currency];
  if (digits === undefined) throw new RangeError(`PayPal adapter has no decimal rule for ${String(money.currency)}`);
  const text = String(money.amount).padStart(digits + 1, '0');
  const value = digits === 0 ? text : `${text.slice(0, -digits)}.${text.slice(-digits)}`;
  return { currencyCode: money.currency, value };
}

/** '97.00' USD -> 9700; null when the string is not in the currency's exact format. */
export function fromPayPalAmount(value: string, currency: Currency): number | null {
  const digits = PAYPAL_DECIMALS[currency];
  const match = (digits === 0 ? /^(\d+)$/ : new RegExp(`^(\\d+)\\.(\\d{${digits}})$`)).exec(value);
  if (!match) return null;
  const amount = Number(`${match[1]!}${match[2] ?? ''}`);
  return Number.isSafeInteger(amount) ? amount : null;
}

// ---------------------------------------------------------------------------------------------
// Request ids and payment sources

/** PayPal-Request-Id allows 108 characters; long or unusual keys are hashed (deterministically). */
function requestIdBase(idempotencyKey: string): string {
  return /^[\x21-\x7e]{1,90}$/.test(idempotencyKey)
    ? idempotencyKey
    : `sha256-${createHash('sha256').update(idempotencyKey).digest('hex')}`;
}

function requestIds(idempotencyKey: string): { create: string; capture: string } {
  const base = requestIdBase(idempotencyKey);
  return { create: `${base}:create`, capture: `${base}:capture` };
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : text.slice(0, max);
}

// PayPal vault ids and billing agreement ids are short runs of letters, digits, '-' and '_'.
// Anything else (above all a card number) is refused before it can leave the process.
const PAYMENT_TOKEN = /^(?:B-|card:)?[A-Za-z0-9_-]{1,64}$/;
const LOOKS_LIKE_CARD_NUMBER = /^\d{12,19}$/;

/**
 * The vaulted instrument in PayPal's shape: `B-...` is a billing agreement (reference
 * transactions), `card:<vault id>` a card saved in PayPal's vault, anything else a PayPal wallet
 * saved in PayPal's vault (payment_source.paypal.vault_id). All merchant-initiated, subsequent.
 */
function paymentSourceFor(token: string): OrderCaptureRequestPaymentSource {
  if (token.startsWith('B-')) return { token: { id: token, type: TokenType.BillingAgreement } };
  if (token.startsWith('card:')) {
    return {
      card: {
        vaultId: token.slice('card:'.length),
        storedCredential: {
          paymentInitiator: PaymentInitiator.Merchant,
          paymentType: StoredPaymentSourcePaymentType.Recurring,
          usage: StoredPaymentSourceUsageType.Subsequent,
        },
      },
    };
  }
  return {
    paypal: {
      vaultId: token,
      storedCredential: {
        paymentInitiator: PaymentInitiator.Merchant,
        usage: StoredPaymentSourceUsageType.Subsequent,
        usagePattern: UsagePattern.SubscriptionPrepaid,
      },
    },
  };
}

function orderRequestFor(request: ChargeRequest): OrderRequest {
  const invoiceId = request.metadata.invoice_id;
  return {
    intent: CheckoutPaymentIntent.Capture,
    purchaseUnits: [
      {
        referenceId: 'default',
        amount: toPayPalAmount(request.amount),
        description: truncate(request.description, 127),
        // The key travels with the payment, so PayPal's reports tie it to our attempt.
        customId: truncate(request.idempotencyKey, 127),
        ...(invoiceId ? { invoiceId: truncate(invoiceId, 127) } : {}),
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// The SDK client, pointed at any base URL

type RequestBuilderFactory = ReturnType<Client['getRequestBuilderFactory']>;

/**
 * The SDK knows only two environments (Production, Sandbox) and no base-URL option. Its Client
 * builds every request (the OAuth token call included) through getRequestBuilderFactory(), and
 * request builders accept request interceptors: this subclass adds one that moves the SDK's
 * Sandbox URL onto the configured base. Only public SDK API is used.
 */
function createClient(config: PayPalGatewayConfig, auth: TokenTracking): Client {
  const baseUrl = config.baseUrl.replace(/\/+$/, '');
  const url = new URL(baseUrl);
  const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error(`PayPal baseUrl must be https (plain http only on a loopback host): ${baseUrl}`);
  }
  const environment = baseUrl === LIVE_URL ? Environment.Production : Environment.Sandbox;
  const sdkBaseUrl = environment === Environment.Production ? LIVE_URL : SANDBOX_URL;
  const rebase = (requestUrl: string): string =>
    requestUrl.startsWith(sdkBaseUrl) ? `${baseUrl}${requestUrl.slice(sdkBaseUrl.length)}` : requestUrl;
  const timeout = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  class RebasedClient extends Client {
    override getRequestBuilderFactory(): RequestBuilderFactory {
      const factory = super.getRequestBuilderFactory();
      if (baseUrl === sdkBaseUrl) return factory;
      return (...args: Parameters<RequestBuilderFactory>) => {
        const builder = factory(...args);
        builder.interceptRequest((request) => ({ ...request, url: rebase(request.url) }));
        return builder;
      };
    }
  }

  return new RebasedClient({
    environment,
    timeout,
    httpClientOptions: { timeout, retryConfig: { maxNumberOfRetries: 0 } },
    clientCredentialsAuthCredentials: {
      oAuthClientId: config.clientId,
      oAuthClientSecret: config.clientSecret,
      oAuthTokenProvider: auth.provider,
      oAuthOnTokenUpdate: auth.onUpdate,
    },
  });
}

/**
 * The SDK keeps the token in a shared promise; a failed token request would leave that promise
 * rejected and fail every later call of the client. This provider never rejects: it records the
 * failure and answers no token, so the call at hand fails ("Client is not authorized") and the
 * next one asks PayPal again. It also lets a 401 expire the cached token.
 */
interface TokenTracking {
  provider: (last: OAuthToken | undefined, manager: Client['clientCredentialsAuthManager']) => Promise<OAuthToken>;
  onUpdate: (token: OAuthToken) => void;
  lastFailure(): unknown;
  expire(): void;
}

function tokenTracking(): TokenTracking {
  let failure: unknown = null;
  let current: OAuthToken | undefined;
  return {
    provider: async (_last, manager) => {
      try {
        const token = await manager.fetchToken();
        failure = null;
        return token;
      } catch (error) {
        failure = error;
        return undefined as unknown as OAuthToken;
      }
    },
    onUpdate: (token) => {
      current = token;
    },
    lastFailure: () => failure,
    expire: () => {
      if (current) current.expiry = 0n;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Outcomes

// PayPal processor response codes (captures[].processor_response.response_code) in the
// vocabulary of the dunning policy (Stripe's decline codes where they mean the same).
const PROCESSOR_DECLINE_CODES: Readonly<Record<string, string>> = {
  '0500': 'do_not_honor',
  '1330': 'invalid_account',
  '5100': 'generic_decline',
  '5110': 'incorrect_cvc',
  '5120': 'insufficient_funds',
  '5400': 'expired_card',
  '9500': 'fraudulent',
};

const MONEY_MOVED: readonly (CaptureStatus | undefined)[] = [CaptureStatus.Completed, CaptureStatus.PartiallyRefunded, CaptureStatus.Refunded];

function capturesOf(order: Order): OrdersCapture[] {
  return (order.purchaseUnits ?? []).flatMap((unit) => unit.payments?.captures ?? []);
}

/** What the order says about the charge; null when it says nothing was attempted yet. */
function outcomeOfOrder(order: Order, expectedValue: string | null): ChargeOutcome | null {
  const captures = capturesOf(order);
  const moved = captures.find((capture) => MONEY_MOVED.includes(capture.status));
  if (moved) {
    if (expectedValue !== null && moved.amount?.value !== expectedValue) {
      // The order belongs to another request that reused the key: a fault to surface, and
      // money moved, so nobody may charge elsewhere.
      return ambiguousError(`PayPal capture ${moved.id ?? '?'} is for ${moved.amount?.value ?? '?'}, not ${expectedValue}: idempotency key reused?`);
    }
    return { status: 'succeeded', gateway: 'paypal', reference: moved.id ?? order.id ?? '' };
  }
  const pending = captures.find((capture) => capture.status === CaptureStatus.Pending);
  if (pending) {
    const reason = pending.statusDetails?.reason ?? 'unknown reason';
    return ambiguousError(`PayPal capture ${pending.id ?? '?'} is pending (${reason})`);
  }
  const declined = captures.find((capture) => capture.status === CaptureStatus.Declined || capture.status === CaptureStatus.Failed);
  if (declined) {
    const code = declined.processorResponse?.responseCode;
    return {
      status: 'declined',
      gateway: 'paypal',
      ...(order.id ? { reference: order.id } : {}),
      declineCode: code ? PROCESSOR_DECLINE_CODES[code] ?? `processor_declined_${code}` : 'generic_decline',
      message: `The payment was declined by the processor${code ? ` (response code ${code})` : ''}.`,
    };
  }
  if (order.status === OrderStatus.PayerActionRequired && order.id) {
    return { status: 'requires_action', gateway: 'paypal', reference: order.id };
  }
  if (order.status === OrderStatus.Completed) return ambiguousError(`PayPal order ${order.id ?? '?'} is COMPLETED without a capture`);
  return null;
}

function ambiguousError(message: string): ChargeOutcome {
  return { status: 'gateway_error', gateway: 'paypal', ambiguous: true, message };
}

function clearError(message: string): ChargeOutcome {
  return { status: 'gateway_error', gateway: 'paypal', ambiguous: false, message };
}

interface PayPalErrorBody {
  name?: string;
  message?: string;
  debug_id?: string;
  details?: { issue?: string; description?: string; field?: string; location?: string }[];
}

function errorBody(error: ApiError<unknown>): PayPalErrorBody {
  if (error.result && typeof error.result === 'object') return error.result as PayPalErrorBody;
  if (typeof error.body === 'string') {
    try {
      return JSON.parse(error.body) as PayPalErrorBody;
    } catch {
      return {};
    }
  }
  return {};
}

function describeError(body: PayPalErrorBody, status: number): string {
  const detail = body.details?.[0];
  const issue = detail?.issue ? ` ${detail.issue}` : '';
  const text = detail?.description ?? body.message ?? '';
  return `PayPal ${status} ${body.name ?? 'error'}${issue}: ${text}${body.debug_id ? ` (debug_id ${body.debug_id})` : ''}`;
}

function failureText(error: unknown): string {
  if (error instanceof ApiError) return describeError(errorBody(error), error.statusCode);
  return error instanceof Error ? error.message : String(error);
}

type Stage = 'create' | 'capture';

/**
 * An error of the OAuth token request. (The SDK's OAuthProviderError class cannot be imported:
 * the package root exports an enum of the same name in its place.)
 */
function isTokenRequestError(error: unknown): error is ApiError<unknown> {
  return error instanceof ApiError && /\/v1\/oauth2\/token$/.test(error.request?.url ?? '');
}

/**
 * A failed call as an outcome. `stage` matters for ambiguity: the create moves no money, so only
 * a capture can leave us not knowing whether the customer paid.
 */
function outcomeOfFailure(error: unknown, stage: Stage, orderId: string | null, tokens: TokenTracking): ChargeOutcome {
  const mayHaveCharged = stage === 'capture';
  if (isTokenRequestError(error) || (error instanceof Error && /Client is not authorized/.test(error.message))) {
    const cause = isTokenRequestError(error) ? error : tokens.lastFailure();
    if (cause instanceof ApiError && (cause.statusCode === 400 || cause.statusCode === 401)) {
      throw new Error(`PayPal refused the client credentials (${cause.statusCode}): check clientId/clientSecret`);
    }
    // No token, so the request was never sent.
    return clearError(`could not get a PayPal access token: ${cause instanceof Error ? cause.message : String(cause)}`);
  }
  if (error instanceof ApiError) {
    const status = error.statusCode;
    const body = errorBody(error);
    const detail = body.details?.[0];
    const issue = detail?.issue ?? '';
    const message = describeError(body, status);
    if (status === 422) {
      if (issue === 'PAYER_ACTION_REQUIRED') {
        return { status: 'requires_action', gateway: 'paypal', reference: orderId ?? body.debug_id ?? 'unknown' };
      }
      if (issue === 'DUPLICATE_INVOICE_ID') {
        // PayPal already took a payment for this invoice under another order: never charge elsewhere.
        return ambiguousError(message);
      }
      // Business validation failed and nothing was charged: this attempt is declined, with
      // PayPal's issue as the code (INSTRUMENT_DECLINED -> instrument_declined,
      // TRANSACTION_REFUSED, PAYER_CANNOT_PAY, ...; PayPal adds issues over time, so any 422
      // issue counts, including merchant-side ones such as PAYEE_ACCOUNT_RESTRICTED).
      const declineCode = issue ? issue.toLowerCase() : 'generic_decline';
      return { status: 'declined', gateway: 'paypal', ...(orderId ? { reference: orderId } : {}), declineCode, message };
    }
    if (status === 404 && issue === 'INVALID_RESOURCE_ID' && (detail?.location === 'body' || /payment_source/.test(detail?.field ?? ''))) {
      // A vault token PayPal does not know (deleted, or never vaulted): like Stripe's detached card.
      return { status: 'declined', gateway: 'paypal', ...(orderId ? { reference: orderId } : {}), declineCode: 'invalid_payment_method', message };
    }
    if (status === 429) return clearError(message);
    if (status >= 500) return mayHaveCharged ? ambiguousError(message) : clearError(message);
    if (status === 404) return clearError(message);
    // 400, 401, 403: a fault in our request or configuration, not a business outcome.
    throw Object.assign(new Error(message), { cause: error });
  }
  if (error instanceof ArgumentsValidationError) throw error;
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    // Never reached PayPal.
    return clearError(`PayPal unreachable: ${message}`);
  }
  // Timeout, reset, lost response, unreadable answer: the request may have been executed.
  return mayHaveCharged ? ambiguousError(`PayPal did not answer: ${message}`) : clearError(`PayPal did not answer: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Refunds

/** What the payer reads in PayPal's emails and activity (note_to_payer). */
const REFUND_NOTES: Readonly<Record<RefundReason, string>> = {
  requested_by_customer: 'Refund at your request',
  duplicate: 'Refund of a duplicate payment',
  fraudulent: 'Refund of an unauthorised payment',
  service_not_delivered: 'Refund for a service not delivered',
};

function outcomeOfRefund(refund: Refund): RefundOutcome {
  const reference = refund.id ?? null;
  switch (refund.status) {
    case RefundStatus.Completed:
      if (reference === null) return { outcome: 'pending', gateway: 'paypal', reference, message: 'PayPal completed a refund without an id' };
      return { outcome: 'succeeded', gateway: 'paypal', reference };
    case RefundStatus.Failed:
    case RefundStatus.Cancelled:
      return { outcome: 'failed', gateway: 'paypal', reference, code: refund.status.toLowerCase(), message: `PayPal refund ${reference ?? '?'} is ${refund.status}` };
    default: {
      // PENDING (e.g. ECHECK, or the merchant's balance is short): PayPal settles it later.
      const reason = refund.statusDetails?.reason;
      return { outcome: 'pending', gateway: 'paypal', reference, message: `PayPal refund ${reference ?? '?'} is ${refund.status ?? 'pending'}${reason ? ` (${reason})` : ''}` };
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The gateway

interface RememberedOrder {
  readonly orderId: string | null;
  readonly createRequestId: string;
  readonly body: OrderRequest;
  readonly expectedValue: string;
  readonly captureRequested: boolean;
}

export function createPayPalGateway(config: PayPalGatewayConfig): PayPalGateway {
  const tokens = tokenTracking();
  const client = createClient(config, tokens);
  const orders = new OrdersController(client);
  const payments = new PaymentsController(client);
  const remembered = new Map<string, RememberedOrder>();
  const baseUrl = config.baseUrl.replace(/\/+$/, '');
  const timeoutMs = config.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  function remember(idempotencyKey: string, order: RememberedOrder): void {
    remembered.delete(idempotencyKey);
    remembered.set(idempotencyKey, order);
    if (remembered.size > REMEMBERED_ORDERS) remembered.delete(remembered.keys().next().value as string);
  }

  /** One call, retried once after a 401 with a fresh token (PayPal's tokens expire or get revoked). */
  async function withFreshToken<T>(call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      if (error instanceof ApiError && !isTokenRequestError(error) && error.statusCode === 401) {
        tokens.expire();
        return call();
      }
      throw error;
    }
  }

  const createOrder = (body: OrderRequest, paypalRequestId: string): Promise<Order> =>
    withFreshToken(async () => (await orders.createOrder({ body, paypalRequestId, prefer: 'return=representation' })).result);

  const getOrder = (id: string): Promise<Order> => withFreshToken(async () => (await orders.getOrder({ id })).result);

  async function charge(request: ChargeRequest): Promise<ChargeOutcome> {
    const token = request.paymentMethodToken;
    if (!PAYMENT_TOKEN.test(token) || LOOKS_LIKE_CARD_NUMBER.test(token.replace(/^(?:B-|card:)/, ''))) {
      // The value is deliberately left out of the message: it might be card data.
      throw new Error('PayPal charge refused: paymentMethodToken must be a PayPal vault id or billing agreement id');
    }
    const body = orderRequestFor(request);
    const expectedValue = toPayPalAmount(request.amount).value;
    const ids = requestIds(request.idempotencyKey);
    const known = remembered.get(request.idempotencyKey);
    remember(request.idempotencyKey, {
      orderId: known?.orderId ?? null,
      createRequestId: ids.create,
      body,
      expectedValue,
      captureRequested: known?.captureRequested ?? false,
    });

    let order: Order;
    try {
      order = await createOrder(body, ids.create);
    } catch (error) {
      return outcomeOfFailure(error, 'create', null, tokens);
    }
    if (!order.id) return clearError('PayPal created an order without an id');
    const orderId = order.id;
    // Remembered before the capture leaves, so that findCharge knows a capture may exist.
    remember(request.idempotencyKey, { orderId, createRequestId: ids.create, body, expectedValue, captureRequested: true });
    // A repeated key answers the order as it is now: possibly captured already.
    const settled = outcomeOfOrder(order, expectedValue);
    if (settled) return settled;
    try {
      order = await withFreshToken(
        async () =>
          (
            await orders.captureOrder({
              id: orderId,
              paypalRequestId: ids.capture,
              prefer: 'return=representation',
              body: { paymentSource: paymentSourceFor(token) },
            })
          ).result,
      );
    } catch (error) {
      if (error instanceof ApiError && error.statusCode === 422 && errorBody(error).details?.[0]?.issue === 'ORDER_ALREADY_CAPTURED') {
        // Captured by an earlier request for this key whose answer we did not get.
        return (await lookUpOrder(orderId, expectedValue)) ?? ambiguousError(`PayPal order ${orderId} is captured but shows no capture`);
      }
      return outcomeOfFailure(error, 'capture', orderId, tokens);
    }
    return outcomeOfOrder(order, expectedValue) ?? ambiguousError(`PayPal answered the capture of order ${orderId} without a capture`);
  }

  async function lookUpOrder(orderId: string, expectedValue: string | null): Promise<ChargeOutcome | null> {
    try {
      return outcomeOfOrder(await getOrder(orderId), expectedValue);
    } catch (error) {
      return ambiguousError(`could not look up PayPal order ${orderId}: ${failureText(error)}`);
    }
  }

  /**
   * Replays the money-free create with the same PayPal-Request-Id: PayPal answers the order made
   * by the first create (as it is now, captures included), or makes the order now if the first
   * create never arrived; either way nothing is captured by this call.
   */
  async function replayCreate(idempotencyKey: string, body: OrderRequest, expectedValue: string): Promise<ChargeOutcome | null> {
    const ids = requestIds(idempotencyKey);
    try {
      const order = await createOrder(body, ids.create);
      const known = remembered.get(idempotencyKey);
      if (order.id) {
        remember(idempotencyKey, {
          orderId: order.id,
          createRequestId: ids.create,
          body,
          expectedValue,
          captureRequested: known?.captureRequested ?? false,
        });
      }
      return outcomeOfOrder(order, expectedValue);
    } catch (error) {
      return ambiguousError(`could not replay the PayPal create for ${idempotencyKey}: ${failureText(error)}`);
    }
  }

  /**
   * findCharge(key): from the order this process made for the key.
   *   - no capture request ever left for the key -> null (no money can have moved);
   *   - order id known -> GET the order: its capture decides, none -> null;
   *   - create answer lost -> replay the create (money-free) to learn the order.
   * A gateway_error with ambiguous: true means "still unknown" (PayPal not reachable).
   * A key this process never charged is unknown here: null. Callers that have the request at
   * hand (the router) use resolveCharge, which also works in another process.
   */
  async function findCharge(idempotencyKey: string): Promise<ChargeOutcome | null> {
    const known = remembered.get(idempotencyKey);
    if (!known) return null;
    if (known.orderId !== null) {
      if (!known.captureRequested) return null;
      return lookUpOrder(known.orderId, known.expectedValue);
    }
    return replayCreate(idempotencyKey, known.body, known.expectedValue);
  }

  /** Exact in any process: the create-order call is replayed with the request's own content. */
  async function resolveCharge(request: ChargeRequest): Promise<ChargeOutcome | null> {
    return replayCreate(request.idempotencyKey, orderRequestFor(request), toPayPalAmount(request.amount).value);
  }

  /**
   * POST /v2/payments/captures/{id}/refund with PayPal-Request-Id `<key>:refund`: a repeat with
   * the same key answers the refund already made ("the latest status of the previous request")
   * instead of refunding again.
   */
  async function refund(request: RefundRequest): Promise<RefundOutcome> {
    const base = requestIdBase(request.idempotencyKey);
    let result: Refund;
    try {
      const response = await withFreshToken(() =>
        payments.refundCapturedPayment({
          captureId: request.gatewayReference,
          paypalRequestId: `${base}:refund`,
          prefer: 'return=representation',
          body: {
            amount: toPayPalAmount({ amount: request.amount, currency: request.currency }),
            // Our key travels with the refund, so PayPal's reports tie it to our credit note.
            customId: truncate(request.idempotencyKey, 127),
            noteToPayer: REFUND_NOTES[request.reason],
          },
        }),
      );
      result = response.result;
    } catch (error) {
      return refundOutcomeOfFailure(error);
    }
    return outcomeOfRefund(result);
  }

  function refundOutcomeOfFailure(error: unknown): RefundOutcome {
    if (error instanceof ApiError && (error.statusCode === 422 || error.statusCode === 404)) {
      // CAPTURE_FULLY_REFUNDED, REFUND_AMOUNT_EXCEEDED, REFUND_TIME_LIMIT_EXCEEDED, unknown capture:
      // refused, and a repeat of the key is answered with the same refusal.
      const body = errorBody(error);
      const code = (body.details?.[0]?.issue ?? body.name ?? 'refund_failed').toLowerCase();
      return { outcome: 'failed', gateway: 'paypal', reference: null, code, message: describeError(body, error.statusCode) };
    }
    // 'capture' because a refund moves money: a lost answer leaves its fate unknown.
    const outcome = outcomeOfFailure(error, 'capture', null, tokens);
    const message = outcome.status === 'gateway_error' ? outcome.message : failureText(error);
    return { outcome: 'pending', gateway: 'paypal', reference: null, message };
  }

  let webhookToken: OAuthToken | undefined;

  async function verifyWebhookSignature(input: PayPalWebhookVerification): Promise<boolean> {
    const headerValue = (name: string): string | undefined => {
      const entry = Object.entries(input.headers).find(([key]) => key.toLowerCase() === name);
      const value = entry?.[1];
      return Array.isArray(value) ? value[0] : (value as string | undefined);
    };
    const fields = {
      auth_algo: headerValue('paypal-auth-algo'),
      cert_url: headerValue('paypal-cert-url'),
      transmission_id: headerValue('paypal-transmission-id'),
      transmission_sig: headerValue('paypal-transmission-sig'),
      transmission_time: headerValue('paypal-transmission-time'),
    };
    if (Object.values(fields).some((value) => !value)) return false;
    let event: unknown;
    try {
      event = JSON.parse(input.body);
    } catch {
      return false;
    }
    webhookToken = await client.clientCredentialsAuthManager.updateToken(webhookToken);
    const response = await fetch(`${baseUrl}/v1/notifications/verify-webhook-signature`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${webhookToken.accessToken}` },
      body: JSON.stringify({ ...fields, webhook_id: input.webhookId, webhook_event: event }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    if (response.status === 401) webhookToken = undefined;
    if (!response.ok) throw new Error(`PayPal verify-webhook-signature answered ${response.status}: ${text}`);
    return (JSON.parse(text) as { verification_status?: string }).verification_status === 'SUCCESS';
  }

  return {
    name: 'paypal',
    createCustomer: async (request: CreateCustomerRequest) => ({ gatewayCustomerId: request.customerId }),
    charge,
    findCharge,
    resolveCharge,
    refund,
    verifyWebhookSignature,
  };
}
