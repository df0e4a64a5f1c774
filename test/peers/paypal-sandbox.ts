// A local stand-in for PayPal's REST API (the parts the billing service uses), answering the
// JSON shapes that @paypal/paypal-server-sdk sends and parses, with PayPal's semantics for
// vaulted payment tokens, PayPal-Request-Id idempotency and webhook signature verification, plus
// fault injection for failover and crash tests.
//
// Endpoints
//   POST /v1/oauth2/token                       client credentials (Basic auth), returns a Bearer token
//   POST /v2/checkout/orders                    create an order (intent CAPTURE)
//   GET  /v2/checkout/orders/:id                show an order
//   POST /v2/checkout/orders/:id/capture        capture an order (payment_source may be given here)
//   GET  /v2/payments/captures/:id              show a capture
//   POST /v2/payments/captures/:id/refund       refund a capture (fully, or `amount`)
//   POST /v1/notifications/verify-webhook-signature   SUCCESS / FAILURE, verified for real (RSA)
//   GET  /v1/notifications/certs/:id            the PEM public key webhooks are signed with
//   /__sandbox/...                              admin API for tests in another process (see below)
//
// Test vault tokens (payment_source.paypal.vault_id, payment_source.card.vault_id, or
// payment_source.token.id with type BILLING_AGREEMENT, where a leading "B-" is ignored). A token
// matches when it STARTS with one of these, so `pp_vault_success_cus42` succeeds too:
//   pp_vault_success             capture COMPLETED
//   pp_vault_declined            422 UNPROCESSABLE_ENTITY, issue INSTRUMENT_DECLINED
//   pp_vault_refused             422 UNPROCESSABLE_ENTITY, issue TRANSACTION_REFUSED
//   pp_vault_insufficient_funds  201, capture DECLINED, processor_response.response_code 5120
//   pp_vault_payer_action        422 PAYER_ACTION_REQUIRED with a rel "payer-action" link; the
//                                order's status becomes PAYER_ACTION_REQUIRED
//   pp_vault_pending             capture PENDING (status_details.reason PENDING_REVIEW)
//   anything else                404 RESOURCE_NOT_FOUND, issue INVALID_RESOURCE_ID
//
// Order flows
//   Two-step: create the order without payment_source (status CREATED), then capture it with the
//   vaulted payment_source in the capture body. The create moves no money.
//   Single-step: a create with a vaulted payment_source is processed at once, as PayPal does
//   ("single-step create order calls ... with payment source information like Card,
//   PayPal.vault_id, PayPal.billing_agreement_id", where PayPal-Request-Id is mandatory): the
//   response is COMPLETED with purchase_units[0].payments.captures[0], or the decline.
//
// Idempotency (https://developer.paypal.com/api/rest/reference/idempotency): a POST that repeats
// a PayPal-Request-Id already used by the same client on the same endpoint is not executed again;
// PayPal "returns the latest status of the previous request", so an order-returning call answers
// the order as it is now, and a failed business call (422) answers the same error. Validation
// errors (400), authentication errors and injected 5xx/429 faults are not stored, like a failure
// in front of PayPal's idempotency layer. The body of a replay is not compared with the original.
//
// Faults (failNext(count, mode, on, {skip})): each request that matches `on` takes the next
// fault (after `skip` matching requests passed untouched).
//   server_error   500 INTERNAL_SERVER_ERROR, nothing executed
//   rate_limit     429 RATE_LIMIT_REACHED, nothing executed
//   timeout        the request hangs, nothing executed, until the client gives up
//   lost_response  executed (and stored for idempotency), then the socket is destroyed unanswered
// `on` is 'charge' (default: create order and capture order), one endpoint, or 'any'. OAuth token
// requests only fail when targeted ('oauth'), so a test's fault does not depend on whether the
// client had a token cached.
//
// Webhooks: signWebhook(event) returns the body and the PAYPAL-TRANSMISSION-* headers PayPal
// would send. The signature is SHA256withRSA over
//   `${transmission_id}|${transmission_time}|${webhook_id}|${crc32(body)}`
// (PayPal's documented signed string) with a key pair made at start-up; verify-webhook-signature
// re-computes it from the request (webhook_event serialized with JSON.stringify), so a tampered
// event, a wrong webhook id, a foreign cert_url or a bad signature all answer FAILURE.
//
// Run standalone:
//   node -r @swc-node/register test/peers/paypal-sandbox.ts --port 12130
import http from 'node:http';
import { createSign, createVerify, generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { argumentValue, runPeerScript } from './peer-script';

// ---------------------------------------------------------------------------------------------
// Public types

export const PAYPAL_SANDBOX_CLIENT_ID = 'sandbox-client-id';
export const PAYPAL_SANDBOX_CLIENT_SECRET = 'sandbox-client-secret';
export const PAYPAL_SANDBOX_WEBHOOK_ID = 'WH-SANDBOX-0000000000000000';

export const PAYPAL_TEST_TOKENS = {
  success: 'pp_vault_success',
  declined: 'pp_vault_declined',
  refused: 'pp_vault_refused',
  insufficientFunds: 'pp_vault_insufficient_funds',
  payerActionRequired: 'pp_vault_payer_action',
  pending: 'pp_vault_pending',
} as const;

export type PayPalFaultMode = 'server_error' | 'rate_limit' | 'timeout' | 'lost_response';
const FAULT_MODES: readonly PayPalFaultMode[] = ['server_error', 'rate_limit', 'timeout', 'lost_response'];

export type PayPalEndpoint =
  | 'oauth'
  | 'create_order'
  | 'get_order'
  | 'capture_order'
  | 'get_capture'
  | 'refund'
  | 'verify_webhook'
  | 'get_cert';
export type PayPalFaultTarget = PayPalEndpoint | 'charge' | 'any';
const FAULT_TARGETS: readonly PayPalFaultTarget[] = [
  'oauth',
  'create_order',
  'get_order',
  'capture_order',
  'get_capture',
  'refund',
  'verify_webhook',
  'get_cert',
  'charge',
  'any',
];

/** A capture that moved money (COMPLETED, possibly refunded since). */
export interface PayPalCaptureRecord {
  readonly id: string;
  readonly orderId: string;
  readonly status: 'COMPLETED' | 'PARTIALLY_REFUNDED' | 'REFUNDED';
  /** PayPal's decimal string, e.g. '97.00'. */
  readonly amount: string;
  readonly currency: string;
  /** The PayPal-Request-Id of the request that captured (the create in single-step orders). */
  readonly requestId: string | null;
  readonly customId: string | null;
  readonly invoiceId: string | null;
  readonly description: string | null;
  /** The vault id or billing agreement id that paid. */
  readonly paymentToken: string;
  readonly createTime: string;
}

export interface PayPalRefundRecord {
  readonly id: string;
  readonly captureId: string;
  readonly amount: string;
  readonly currency: string;
  readonly requestId: string | null;
  readonly customId: string | null;
  readonly noteToPayer: string | null;
  readonly createTime: string;
}

export interface PayPalRequestRecord {
  readonly method: string;
  readonly path: string;
  readonly endpoint: PayPalEndpoint | null;
  readonly requestId: string | null;
  /** The status sent, or the fault that replaced the answer. */
  readonly status: number | 'timeout' | 'lost_response';
  readonly replayed: boolean;
}

export interface PayPalFaultState {
  readonly pending: readonly { readonly mode: PayPalFaultMode; readonly on: PayPalFaultTarget; readonly skip: number }[];
  /** Requests currently hanging because of a timeout fault. */
  readonly hanging: number;
}

export interface PayPalSandboxOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  clientId?: string;
  clientSecret?: string;
  webhookId?: string;
  /** expires_in of issued access tokens (PayPal: 32400 s). */
  tokenTtlSeconds?: number;
}

export interface SignedWebhook {
  /** The exact body PayPal would POST. */
  readonly body: string;
  /** PAYPAL-TRANSMISSION-ID, -TIME, -SIG, PAYPAL-CERT-URL, PAYPAL-AUTH-ALGO (lower-cased names). */
  readonly headers: Readonly<Record<string, string>>;
}

export interface PayPalSandbox {
  readonly url: string;
  readonly port: number;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly webhookId: string;
  close(): Promise<void>;
  captures(): PayPalCaptureRecord[];
  refunds(): PayPalRefundRecord[];
  /** Every API request seen (admin requests excluded), oldest first. */
  requests(): PayPalRequestRecord[];
  /** Forgets orders, captures, refunds, idempotency keys, faults and the request log (not access tokens). */
  reset(): void;
  /** Invalidates every access token issued so far (the next API call answers 401). */
  revokeTokens(): void;
  /**
   * The next `count` requests matching `on` (default 'charge') fail in the given way; with
   * `skip`, that many matching requests pass untouched first (e.g. fail a look-up's request but
   * not the charge's).
   */
  failNext(count: number, mode: PayPalFaultMode, on?: PayPalFaultTarget, options?: { skip?: number }): void;
  faults(): PayPalFaultState;
  signWebhook(event: object, options?: { webhookId?: string; transmissionTime?: string }): SignedWebhook;
}

// ---------------------------------------------------------------------------------------------
// Amounts: decimal strings, checked and compared without floats

// ISO 4217 exponents of the currencies PayPal supports that matter here.
const CURRENCY_DIGITS: Readonly<Record<string, number>> = {
  AUD: 2, BRL: 2, CAD: 2, CHF: 2, CZK: 2, DKK: 2, EUR: 2, GBP: 2, HKD: 2, ILS: 2, MXN: 2, NOK: 2,
  NZD: 2, PHP: 2, PLN: 2, SEK: 2, SGD: 2, THB: 2, USD: 2, HUF: 0, JPY: 0, TWD: 0,
};

/**
 * '97.00' (or '97', '97.5') -> minor units, or null when the value has more decimals than the
 * currency allows (PayPal's DECIMAL_PRECISION) or is not a plain decimal.
 */
function toMinorUnits(value: string, digits: number): bigint | null {
  const pattern = digits === 0 ? /^(\d{1,10})$/ : new RegExp(`^(\\d{1,10})(?:\\.(\\d{1,${digits}}))?$`);
  const match = pattern.exec(value);
  if (!match) return null;
  return BigInt(match[1]!) * 10n ** BigInt(digits) + BigInt((match[2] ?? '').padEnd(digits, '0') || '0');
}

function toDecimal(minor: bigint, digits: number): string {
  if (digits === 0) return minor.toString();
  const text = minor.toString().padStart(digits + 1, '0');
  return `${text.slice(0, -digits)}.${text.slice(-digits)}`;
}

// ---------------------------------------------------------------------------------------------
// PayPal objects

interface Link {
  href: string;
  rel: string;
  method: 'GET' | 'POST' | 'PATCH' | 'REDIRECT';
}

interface MoneyJson {
  currency_code: string;
  value: string;
}

interface PurchaseUnitInput {
  reference_id: string;
  amount: MoneyJson;
  description?: string;
  custom_id?: string;
  invoice_id?: string;
  soft_descriptor?: string;
}

type PaymentSourceKind = 'paypal' | 'card' | 'token';

interface VaultedSource {
  kind: PaymentSourceKind;
  token: string;
}

interface CaptureState {
  id: string;
  orderId: string;
  status: 'COMPLETED' | 'DECLINED' | 'PENDING' | 'PARTIALLY_REFUNDED' | 'REFUNDED';
  reason?: string;
  amount: MoneyJson;
  customId: string | null;
  invoiceId: string | null;
  description: string | null;
  paymentToken: string;
  requestId: string | null;
  processorResponseCode?: string;
  refundedMinor: bigint;
  createTime: string;
  updateTime: string;
}

interface OrderState {
  id: string;
  clientId: string;
  intent: 'CAPTURE';
  status: 'CREATED' | 'APPROVED' | 'COMPLETED' | 'PAYER_ACTION_REQUIRED';
  purchaseUnit: PurchaseUnitInput;
  source: VaultedSource | null;
  captures: CaptureState[];
  createTime: string;
  updateTime: string;
}

interface RefundState {
  id: string;
  captureId: string;
  amount: MoneyJson;
  /** Everything refunded on the capture once this refund was made. */
  totalRefunded: MoneyJson;
  requestId: string | null;
  customId: string | null;
  noteToPayer: string | null;
  createTime: string;
}

interface SandboxState {
  orders: Map<string, OrderState>;
  captures: Map<string, CaptureState>;
  refunds: RefundState[];
  tokens: Map<string, { clientId: string; expiresAt: number }>;
  idempotency: Map<string, StoredResult>;
  requests: PayPalRequestRecord[];
}

function newState(): SandboxState {
  return { orders: new Map(), captures: new Map(), refunds: [], tokens: new Map(), idempotency: new Map(), requests: [] };
}

type StoredResult =
  | { kind: 'order'; status: number; orderId: string }
  | { kind: 'refund'; status: number; refundId: string }
  | { kind: 'raw'; status: number; body: unknown };

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** PayPal's resource ids look like 5O190127TN364715T: 17 upper-case letters and digits. */
function paypalId(length = 17): string {
  let id = '';
  for (const byte of randomBytes(length)) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return id;
}

function debugId(): string {
  return randomBytes(7).toString('hex').slice(0, 13);
}

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------------------------------------
// Errors in PayPal's shape: {name, message, debug_id, details: [{field, value, location, issue, description}], links}

interface ErrorDetail {
  field?: string;
  value?: string;
  location?: 'body' | 'path' | 'query' | 'header';
  issue: string;
  description: string;
}

interface ApiResult {
  status: number;
  body: unknown;
  /** Stored for idempotency when the request had a PayPal-Request-Id. */
  store?: StoredResult;
}

const MESSAGES: Readonly<Record<string, string>> = {
  INVALID_REQUEST: 'Request is not well-formed, syntactically incorrect, or violates schema.',
  AUTHENTICATION_FAILURE: 'Authentication failed due to invalid authentication credentials or a missing Authorization header.',
  RESOURCE_NOT_FOUND: 'The specified resource does not exist.',
  UNPROCESSABLE_ENTITY: 'The requested action could not be performed, semantically incorrect, or failed business validation.',
  INTERNAL_SERVER_ERROR: 'An internal server error has occurred.',
  RATE_LIMIT_REACHED: 'Too many requests. Blocked due to rate limiting.',
  VALIDATION_ERROR: 'Invalid request - see details',
  NOT_FOUND: 'The requested resource was not found.',
};

function paypalError(status: number, name: string, details: ErrorDetail[] = [], extraLinks: Link[] = []): ApiResult {
  const links: Link[] = details.map((detail) => ({
    href: `https://developer.paypal.com/api/rest/reference/orders/v2/errors/#${detail.issue.toLowerCase()}`,
    rel: 'information_link',
    method: 'GET',
  }));
  const body: Record<string, unknown> = { name, message: MESSAGES[name] ?? name, debug_id: debugId() };
  if (details.length > 0) body.details = details;
  body.links = [...extraLinks, ...links];
  return { status, body };
}

function invalid(issue: string, description: string, field?: string, value?: string): ApiResult {
  return paypalError(400, 'INVALID_REQUEST', [{ field, value, location: 'body', issue, description }]);
}

function unprocessable(issue: string, description: string, extraLinks: Link[] = []): ApiResult {
  return paypalError(422, 'UNPROCESSABLE_ENTITY', [{ issue, description }], extraLinks);
}

function notFound(id: string, location: 'path' | 'body' = 'path', field?: string): ApiResult {
  return paypalError(404, 'RESOURCE_NOT_FOUND', [
    { field, value: id, location, issue: 'INVALID_RESOURCE_ID', description: 'Specified resource ID does not exist. Please check the resource ID and try again.' },
  ]);
}

// ---------------------------------------------------------------------------------------------
// Test token outcomes

type TokenOutcome =
  | { kind: 'completed' }
  | { kind: 'declined_422'; issue: string; description: string }
  | { kind: 'capture_declined'; responseCode: string }
  | { kind: 'payer_action' }
  | { kind: 'pending'; reason: string };

// Longest prefix first, so that pp_vault_success does not shadow a longer name.
const TOKEN_OUTCOMES: readonly [string, TokenOutcome][] = [
  [PAYPAL_TEST_TOKENS.insufficientFunds, { kind: 'capture_declined', responseCode: '5120' }],
  [PAYPAL_TEST_TOKENS.payerActionRequired, { kind: 'payer_action' }],
  [
    PAYPAL_TEST_TOKENS.declined,
    {
      kind: 'declined_422',
      issue: 'INSTRUMENT_DECLINED',
      description: "The instrument presented  was either declined by the processor or bank, or it can't be used for this payment.",
    },
  ],
  [PAYPAL_TEST_TOKENS.refused, { kind: 'declined_422', issue: 'TRANSACTION_REFUSED', description: 'The request was refused.' }],
  [PAYPAL_TEST_TOKENS.success, { kind: 'completed' }],
  [PAYPAL_TEST_TOKENS.pending, { kind: 'pending', reason: 'PENDING_REVIEW' }],
];

function outcomeOfToken(token: string): TokenOutcome | null {
  const id = token.startsWith('B-') ? token.slice(2) : token;
  return TOKEN_OUTCOMES.find(([prefix]) => id.startsWith(prefix))?.[1] ?? null;
}

// ---------------------------------------------------------------------------------------------
// Request parsing and validation

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function optionalString(object: JsonObject, key: string, field: string, maxLength: number): string | undefined | ApiResult {
  const value = object[key];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return invalid('INVALID_PARAMETER_SYNTAX', 'The value of a field does not conform to the expected format.', field);
  if (value.length > maxLength) {
    return invalid('INVALID_STRING_MAX_LENGTH', `The value of a field is too long. Maximum length is ${maxLength}.`, field);
  }
  return value;
}

function isResult(value: unknown): value is ApiResult {
  return isObject(value) && typeof value.status === 'number' && 'body' in value;
}

/** payment_source with exactly one vaulted instrument; null when absent. */
function readPaymentSource(value: Json | undefined, fieldPrefix: string): VaultedSource | null | ApiResult {
  if (value === undefined) return null;
  if (!isObject(value)) return invalid('INVALID_PARAMETER_SYNTAX', 'The value of a field does not conform to the expected format.', fieldPrefix);
  const sources: VaultedSource[] = [];
  for (const [kind, source] of Object.entries(value)) {
    if (!isObject(source)) {
      return invalid('INVALID_PARAMETER_SYNTAX', 'The value of a field does not conform to the expected format.', `${fieldPrefix}/${kind}`);
    }
    if (kind === 'paypal' || kind === 'card') {
      const vaultId = source.vault_id;
      if (typeof vaultId !== 'string' || vaultId === '') {
        // Anything but a vaulted instrument (a card number above all) is outside this sandbox.
        return unprocessable('PAYMENT_SOURCE_NOT_SUPPORTED', `The sandbox only accepts vaulted payment sources (${kind}.vault_id).`);
      }
      sources.push({ kind, token: vaultId });
    } else if (kind === 'token') {
      if (typeof source.id !== 'string' || source.id === '') {
        return invalid('MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `${fieldPrefix}/token/id`);
      }
      if (source.type !== 'BILLING_AGREEMENT') {
        return invalid('INVALID_PARAMETER_VALUE', 'The value of a field is invalid.', `${fieldPrefix}/token/type`, String(source.type));
      }
      sources.push({ kind: 'token', token: source.id });
    } else {
      return unprocessable('PAYMENT_SOURCE_NOT_SUPPORTED', `The sandbox does not support payment_source.${kind}.`);
    }
  }
  if (sources.length !== 1) {
    return invalid('INCOMPATIBLE_PARAMETER_VALUE', 'Exactly one payment source must be given.', fieldPrefix);
  }
  return sources[0]!;
}

function readPurchaseUnit(body: JsonObject): PurchaseUnitInput | ApiResult {
  const units = body.purchase_units;
  if (!Array.isArray(units) || units.length === 0) {
    return invalid('MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', '/purchase_units');
  }
  if (units.length > 1) {
    return unprocessable('MULTIPLE_PURCHASE_UNITS_NOT_SUPPORTED', 'The sandbox supports one purchase unit per order.');
  }
  const unit = units[0]!;
  if (!isObject(unit)) return invalid('INVALID_PARAMETER_SYNTAX', 'The value of a field does not conform to the expected format.', '/purchase_units/0');
  const referenceId = optionalString(unit, 'reference_id', '/purchase_units/0/reference_id', 256);
  if (isResult(referenceId)) return referenceId;
  const field = `/purchase_units/@reference_id=='${referenceId ?? 'default'}'`;
  const amount = unit.amount;
  if (!isObject(amount)) return invalid('MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `${field}/amount`);
  const currency = amount.currency_code;
  const value = amount.value;
  if (typeof currency !== 'string') return invalid('MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `${field}/amount/currency_code`);
  if (typeof value !== 'string') return invalid('MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', `${field}/amount/value`);
  const digits = CURRENCY_DIGITS[currency];
  if (digits === undefined) {
    return unprocessable('CURRENCY_NOT_SUPPORTED', `Currency code ${currency} is not currently supported.`);
  }
  const minor = toMinorUnits(value, digits);
  if (minor === null) {
    return invalid(
      'DECIMAL_PRECISION',
      `If the currency supports decimals, only two decimal place precision is supported.`,
      `${field}/amount/value`,
      value,
    );
  }
  if (minor <= 0n) return unprocessable('CANNOT_BE_ZERO_OR_NEGATIVE', 'Must be greater than zero.');
  const strings: Partial<Record<'description' | 'custom_id' | 'invoice_id' | 'soft_descriptor', string>> = {};
  for (const [key, max] of [['description', 127], ['custom_id', 127], ['invoice_id', 127], ['soft_descriptor', 22]] as const) {
    const text = optionalString(unit, key, `${field}/${key}`, max);
    if (isResult(text)) return text;
    if (text !== undefined) strings[key] = text;
  }
  return { reference_id: referenceId ?? 'default', amount: { currency_code: currency, value }, ...strings };
}

// ---------------------------------------------------------------------------------------------
// Rendering

function orderLinks(base: string, order: OrderState): Link[] {
  const links: Link[] = [{ href: `${base}/v2/checkout/orders/${order.id}`, rel: 'self', method: 'GET' }];
  if (order.status === 'CREATED' || order.status === 'APPROVED') {
    links.push({ href: `https://www.sandbox.paypal.com/checkoutnow?token=${order.id}`, rel: 'approve', method: 'GET' });
    links.push({ href: `${base}/v2/checkout/orders/${order.id}/capture`, rel: 'capture', method: 'POST' });
  }
  if (order.status === 'PAYER_ACTION_REQUIRED') links.push(payerActionLink(order.id));
  return links;
}

function payerActionLink(orderId: string): Link {
  return { href: `https://www.sandbox.paypal.com/checkoutnow?token=${orderId}`, rel: 'payer-action', method: 'GET' };
}

function feeOf(amount: MoneyJson): { fee: MoneyJson; net: MoneyJson } {
  const digits = CURRENCY_DIGITS[amount.currency_code] ?? 2;
  const gross = toMinorUnits(amount.value, digits) ?? 0n;
  // PayPal's US domestic rate: 3.49% plus a fixed fee (0.49, or 49 in a currency without
  // decimals), rounded half up, in minor units.
  const fee = (gross * 349n + 5_000n) / 10_000n + 49n;
  const net = gross - fee;
  return {
    fee: { currency_code: amount.currency_code, value: toDecimal(fee, digits) },
    net: { currency_code: amount.currency_code, value: toDecimal(net < 0n ? 0n : net, digits) },
  };
}

function renderCapture(base: string, capture: CaptureState): Record<string, unknown> {
  const body: Record<string, unknown> = {
    id: capture.id,
    status: capture.status,
    amount: capture.amount,
    final_capture: true,
    seller_protection: { status: 'ELIGIBLE', dispute_categories: ['ITEM_NOT_RECEIVED', 'UNAUTHORIZED_TRANSACTION'] },
    links: [
      { href: `${base}/v2/payments/captures/${capture.id}`, rel: 'self', method: 'GET' },
      { href: `${base}/v2/payments/captures/${capture.id}/refund`, rel: 'refund', method: 'POST' },
      { href: `${base}/v2/checkout/orders/${capture.orderId}`, rel: 'up', method: 'GET' },
    ],
    create_time: capture.createTime,
    update_time: capture.updateTime,
  };
  if (capture.reason) body.status_details = { reason: capture.reason };
  if (capture.invoiceId !== null) body.invoice_id = capture.invoiceId;
  if (capture.customId !== null) body.custom_id = capture.customId;
  if (capture.processorResponseCode) {
    body.processor_response = { avs_code: 'Y', cvv_code: 'M', response_code: capture.processorResponseCode };
  }
  if (capture.status !== 'DECLINED') {
    const { fee, net } = feeOf(capture.amount);
    body.seller_receivable_breakdown = { gross_amount: capture.amount, paypal_fee: fee, net_amount: net };
  }
  return body;
}

function renderPaymentSource(source: VaultedSource): Record<string, unknown> {
  switch (source.kind) {
    case 'paypal':
      return {
        paypal: {
          email_address: 'sandbox-buyer@example.com',
          account_id: 'SANDBOXPAYER01',
          account_status: 'VERIFIED',
          name: { given_name: 'Sandbox', surname: 'Buyer' },
          attributes: { vault: { id: source.token, status: 'VAULTED' } },
        },
      };
    case 'card':
      return { card: { last_digits: '1111', brand: 'VISA', type: 'CREDIT', attributes: { vault: { id: source.token, status: 'VAULTED' } } } };
    case 'token':
      return { token: { id: source.token, type: 'BILLING_AGREEMENT' } };
  }
}

function renderOrder(base: string, order: OrderState, representation: boolean): Record<string, unknown> {
  const minimal: Record<string, unknown> = { id: order.id, status: order.status };
  if (!representation) {
    if (order.source) minimal.payment_source = renderPaymentSource(order.source);
    minimal.links = orderLinks(base, order);
    return minimal;
  }
  const unit: Record<string, unknown> = {
    ...order.purchaseUnit,
    payee: { email_address: 'sandbox-merchant@example.com', merchant_id: 'SANDBOXMERCHANT1' },
  };
  if (order.captures.length > 0) unit.payments = { captures: order.captures.map((capture) => renderCapture(base, capture)) };
  const body: Record<string, unknown> = {
    id: order.id,
    intent: order.intent,
    status: order.status,
    purchase_units: [unit],
    create_time: order.createTime,
    update_time: order.updateTime,
    links: orderLinks(base, order),
  };
  if (order.source) body.payment_source = renderPaymentSource(order.source);
  return body;
}

function renderRefund(base: string, refund: RefundState, representation: boolean): Record<string, unknown> {
  const links: Link[] = [
    { href: `${base}/v2/payments/refunds/${refund.id}`, rel: 'self', method: 'GET' },
    { href: `${base}/v2/payments/captures/${refund.captureId}`, rel: 'up', method: 'GET' },
  ];
  if (!representation) return { id: refund.id, status: 'COMPLETED', links };
  const body: Record<string, unknown> = {
    id: refund.id,
    status: 'COMPLETED',
    amount: refund.amount,
    seller_payable_breakdown: {
      gross_amount: refund.amount,
      net_amount: refund.amount,
      total_refunded_amount: refund.totalRefunded,
    },
    create_time: refund.createTime,
    update_time: refund.createTime,
    links,
  };
  if (refund.customId !== null) body.custom_id = refund.customId;
  if (refund.noteToPayer !== null) body.note_to_payer = refund.noteToPayer;
  return body;
}

// ---------------------------------------------------------------------------------------------
// Orders API behaviour

interface ApiRequest {
  method: string;
  path: string;
  endpoint: PayPalEndpoint | null;
  params: Record<string, string>;
  body: Json | undefined;
  clientId: string;
  requestId: string | null;
  representation: boolean;
}

/** Runs the payment with the vaulted source: records a capture or answers the decline. */
function attemptPayment(state: SandboxState, order: OrderState, source: VaultedSource, requestId: string | null): ApiResult | null {
  const outcome = outcomeOfToken(source.token);
  if (outcome === null) {
    const field = source.kind === 'token' ? '/payment_source/token/id' : `/payment_source/${source.kind}/vault_id`;
    return notFound(source.token, 'body', field);
  }
  if (outcome.kind === 'declined_422') return unprocessable(outcome.issue, outcome.description);
  if (outcome.kind === 'payer_action') {
    order.status = 'PAYER_ACTION_REQUIRED';
    order.source = source;
    order.updateTime = now();
    return unprocessable('PAYER_ACTION_REQUIRED', 'Payer needs to perform the following action before proceeding with payment.', [
      payerActionLink(order.id),
    ]);
  }
  const time = now();
  const capture: CaptureState = {
    id: paypalId(),
    orderId: order.id,
    status: outcome.kind === 'completed' ? 'COMPLETED' : outcome.kind === 'pending' ? 'PENDING' : 'DECLINED',
    amount: order.purchaseUnit.amount,
    customId: order.purchaseUnit.custom_id ?? null,
    invoiceId: order.purchaseUnit.invoice_id ?? null,
    description: order.purchaseUnit.description ?? null,
    paymentToken: source.token,
    requestId,
    refundedMinor: 0n,
    createTime: time,
    updateTime: time,
  };
  if (outcome.kind === 'pending') capture.reason = outcome.reason;
  if (outcome.kind === 'capture_declined') capture.processorResponseCode = outcome.responseCode;
  order.captures.push(capture);
  order.source = source;
  order.status = 'COMPLETED';
  order.updateTime = time;
  state.captures.set(capture.id, capture);
  return null;
}

function createOrder(state: SandboxState, base: string, request: ApiRequest): ApiResult {
  const body = request.body;
  if (!isObject(body)) return invalid('MALFORMED_REQUEST_JSON', 'The request JSON is not well formed.');
  if (body.intent === undefined) return invalid('MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', '/intent');
  if (body.intent !== 'CAPTURE') {
    return body.intent === 'AUTHORIZE'
      ? unprocessable('UNSUPPORTED_INTENT', 'The sandbox only supports intent CAPTURE.')
      : invalid('INVALID_PARAMETER_VALUE', 'The value of a field is invalid.', '/intent', String(body.intent));
  }
  const unit = readPurchaseUnit(body);
  if (isResult(unit)) return unit;
  const source = readPaymentSource(body.payment_source, '/payment_source');
  if (isResult(source)) return source;
  if (source !== null && request.requestId === null) {
    // PayPal: PayPal-Request-Id is mandatory for single-step create order calls.
    return paypalError(400, 'INVALID_REQUEST', [
      {
        location: 'header',
        field: 'PayPal-Request-Id',
        issue: 'PAYPAL_REQUEST_ID_REQUIRED',
        description: 'A PayPal-Request-Id is required if you are trying to process payment for an Order. Please specify a PayPal-Request-Id or Create the Order without a \'payment_source\' specified.',
      },
    ]);
  }
  const time = now();
  const order: OrderState = {
    id: paypalId(),
    clientId: request.clientId,
    intent: 'CAPTURE',
    status: 'CREATED',
    purchaseUnit: unit,
    source: null,
    captures: [],
    createTime: time,
    updateTime: time,
  };
  state.orders.set(order.id, order);
  if (source !== null) {
    const failure = attemptPayment(state, order, source, request.requestId);
    if (failure) {
      // A declined single-step order is not kept: the merchant creates a new one to retry.
      if (order.status !== 'PAYER_ACTION_REQUIRED') state.orders.delete(order.id);
      return { ...failure, store: { kind: 'raw', status: failure.status, body: failure.body } };
    }
  }
  return { status: 201, body: renderOrder(base, order, request.representation), store: { kind: 'order', status: 201, orderId: order.id } };
}

function findOrder(state: SandboxState, request: ApiRequest): OrderState | ApiResult {
  const id = request.params.id ?? '';
  const order = state.orders.get(id);
  // Orders belong to the merchant that created them.
  if (!order || order.clientId !== request.clientId) return notFound(id);
  return order;
}

function getOrder(state: SandboxState, base: string, request: ApiRequest): ApiResult {
  const order = findOrder(state, request);
  if (isResult(order)) return order;
  // GET always answers the full representation.
  return { status: 200, body: renderOrder(base, order, true) };
}

function captureOrder(state: SandboxState, base: string, request: ApiRequest): ApiResult {
  const order = findOrder(state, request);
  if (isResult(order)) return order;
  const body = request.body ?? {};
  if (!isObject(body)) return invalid('MALFORMED_REQUEST_JSON', 'The request JSON is not well formed.');
  const given = readPaymentSource(body.payment_source, '/payment_source');
  if (isResult(given)) return given;
  const stored = (result: ApiResult): ApiResult => ({ ...result, store: { kind: 'raw', status: result.status, body: result.body } });
  if (order.status === 'COMPLETED') {
    return stored(unprocessable('ORDER_ALREADY_CAPTURED', "Order already captured.If 'intent=CAPTURE' only one capture per order is allowed."));
  }
  if (order.status === 'PAYER_ACTION_REQUIRED' && given === null) {
    return stored(
      unprocessable('PAYER_ACTION_REQUIRED', 'Payer needs to perform the following action before proceeding with payment.', [payerActionLink(order.id)]),
    );
  }
  const source = given ?? (order.status === 'APPROVED' ? order.source : null);
  if (source === null) {
    return stored(
      unprocessable(
        'ORDER_NOT_APPROVED',
        "Payer has not yet approved the Order for payment. Please redirect the payer to the 'rel':'approve' url returned as part of the HATEOAS links within the Create Order call or provide a valid payment_source in the request.",
      ),
    );
  }
  const failure = attemptPayment(state, order, source, request.requestId);
  if (failure) return failure.status === 404 ? failure : stored(failure);
  return { status: 201, body: renderOrder(base, order, request.representation), store: { kind: 'order', status: 201, orderId: order.id } };
}

function findCapture(state: SandboxState, request: ApiRequest): CaptureState | ApiResult {
  const id = request.params.id ?? '';
  const capture = state.captures.get(id);
  if (!capture || state.orders.get(capture.orderId)?.clientId !== request.clientId) return notFound(id);
  return capture;
}

function getCapture(state: SandboxState, base: string, request: ApiRequest): ApiResult {
  const capture = findCapture(state, request);
  if (isResult(capture)) return capture;
  return { status: 200, body: renderCapture(base, capture) };
}

function refundCapture(state: SandboxState, base: string, request: ApiRequest): ApiResult {
  const capture = findCapture(state, request);
  if (isResult(capture)) return capture;
  const body = request.body ?? {};
  if (!isObject(body)) return invalid('MALFORMED_REQUEST_JSON', 'The request JSON is not well formed.');
  const stored = (result: ApiResult): ApiResult => ({ ...result, store: { kind: 'raw', status: result.status, body: result.body } });
  if (capture.status !== 'COMPLETED' && capture.status !== 'PARTIALLY_REFUNDED') {
    return stored(
      capture.status === 'REFUNDED'
        ? unprocessable('CAPTURE_FULLY_REFUNDED', 'The capture has already been fully refunded')
        : unprocessable('TRANSACTION_REFUSED', 'The request was refused.'),
    );
  }
  const customId = optionalString(body, 'custom_id', '/custom_id', 127);
  if (isResult(customId)) return customId;
  const noteToPayer = optionalString(body, 'note_to_payer', '/note_to_payer', 255);
  if (isResult(noteToPayer)) return noteToPayer;
  const digits = CURRENCY_DIGITS[capture.amount.currency_code] ?? 2;
  const captured = toMinorUnits(capture.amount.value, digits) ?? 0n;
  const remaining = captured - capture.refundedMinor;
  let refundMinor = remaining;
  if (body.amount !== undefined) {
    const amount = body.amount;
    if (!isObject(amount) || typeof amount.value !== 'string' || typeof amount.currency_code !== 'string') {
      return invalid('MISSING_REQUIRED_PARAMETER', 'A required field / parameter is missing.', '/amount');
    }
    if (amount.currency_code !== capture.amount.currency_code) {
      return stored(unprocessable('REFUND_CURRENCY_MISMATCH', 'Refund must be in the same currency as the capture.'));
    }
    const minor = toMinorUnits(amount.value, digits);
    if (minor === null) return invalid('DECIMAL_PRECISION', 'If the currency supports decimals, only two decimal place precision is supported.', '/amount/value', amount.value);
    if (minor <= 0n) return stored(unprocessable('CANNOT_BE_ZERO_OR_NEGATIVE', 'Must be greater than zero.'));
    if (minor > remaining) return stored(unprocessable('REFUND_AMOUNT_EXCEEDED', 'The refund amount must be less than or equal to the capture amount that has not yet been refunded.'));
    refundMinor = minor;
  }
  capture.refundedMinor += refundMinor;
  capture.status = capture.refundedMinor === captured ? 'REFUNDED' : 'PARTIALLY_REFUNDED';
  capture.updateTime = now();
  const refund: RefundState = {
    id: paypalId(),
    captureId: capture.id,
    amount: { currency_code: capture.amount.currency_code, value: toDecimal(refundMinor, digits) },
    totalRefunded: { currency_code: capture.amount.currency_code, value: toDecimal(capture.refundedMinor, digits) },
    requestId: request.requestId,
    customId: customId ?? null,
    noteToPayer: noteToPayer ?? null,
    createTime: capture.updateTime,
  };
  state.refunds.push(refund);
  return { status: 201, body: renderRefund(base, refund, request.representation), store: { kind: 'refund', status: 201, refundId: refund.id } };
}

// ---------------------------------------------------------------------------------------------
// Routing

interface Route {
  method: string;
  pattern: RegExp;
  endpoint: PayPalEndpoint;
}

const ROUTES: readonly Route[] = [
  { method: 'POST', pattern: /^\/v1\/oauth2\/token$/, endpoint: 'oauth' },
  { method: 'POST', pattern: /^\/v2\/checkout\/orders$/, endpoint: 'create_order' },
  { method: 'GET', pattern: /^\/v2\/checkout\/orders\/(?<id>[^/]+)$/, endpoint: 'get_order' },
  { method: 'POST', pattern: /^\/v2\/checkout\/orders\/(?<id>[^/]+)\/capture$/, endpoint: 'capture_order' },
  { method: 'GET', pattern: /^\/v2\/payments\/captures\/(?<id>[^/]+)$/, endpoint: 'get_capture' },
  { method: 'POST', pattern: /^\/v2\/payments\/captures\/(?<id>[^/]+)\/refund$/, endpoint: 'refund' },
  { method: 'POST', pattern: /^\/v1\/notifications\/verify-webhook-signature$/, endpoint: 'verify_webhook' },
  { method: 'GET', pattern: /^\/v1\/notifications\/certs\/(?<id>[^/]+)$/, endpoint: 'get_cert' },
];

function matchRoute(method: string, path: string): { endpoint: PayPalEndpoint; params: Record<string, string> } | null {
  for (const route of ROUTES) {
    if (route.method !== method) continue;
    const match = route.pattern.exec(path);
    if (match) return { endpoint: route.endpoint, params: { ...(match.groups ?? {}) } };
  }
  return null;
}

function faultApplies(target: PayPalFaultTarget, endpoint: PayPalEndpoint): boolean {
  if (target === 'any') return true;
  if (target === 'charge') return endpoint === 'create_order' || endpoint === 'capture_order';
  return target === endpoint;
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Paypal-Debug-Id': debugId(),
    ...headers,
  });
  res.end(text);
}

// ---------------------------------------------------------------------------------------------
// Webhook signatures

interface WebhookKeys {
  certId: string;
  privateKey: KeyObject;
  publicKeyPem: string;
}

function newWebhookKeys(): WebhookKeys {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { certId: `CERT-360caa42-fca2a594-${randomBytes(4).toString('hex')}`, privateKey, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

function signedString(transmissionId: string, transmissionTime: string, webhookId: string, body: string): string {
  return `${transmissionId}|${transmissionTime}|${webhookId}|${crc32(Buffer.from(body, 'utf8')) >>> 0}`;
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startPayPalSandbox(options: PayPalSandboxOptions = {}): Promise<PayPalSandbox> {
  const host = options.host ?? '127.0.0.1';
  const clientId = options.clientId ?? PAYPAL_SANDBOX_CLIENT_ID;
  const clientSecret = options.clientSecret ?? PAYPAL_SANDBOX_CLIENT_SECRET;
  const webhookId = options.webhookId ?? PAYPAL_SANDBOX_WEBHOOK_ID;
  const tokenTtlSeconds = options.tokenTtlSeconds ?? 32_400;
  const keys = newWebhookKeys();
  let state = newState();
  const pendingFaults: { mode: PayPalFaultMode; on: PayPalFaultTarget; skip: number }[] = [];
  const hanging = new Set<http.ServerResponse>();
  let base = '';

  function certUrl(): string {
    return `${base}/v1/notifications/certs/${keys.certId}`;
  }

  function failNext(count: number, mode: PayPalFaultMode, on: PayPalFaultTarget = 'charge', failOptions: { skip?: number } = {}): void {
    if (!Number.isInteger(count) || count < 0) throw new Error(`failNext count must be a non-negative integer, got ${count}`);
    if (!FAULT_MODES.includes(mode)) throw new Error(`unknown fault mode ${String(mode)}`);
    if (!FAULT_TARGETS.includes(on)) throw new Error(`unknown fault target ${String(on)}`);
    const skip = failOptions.skip ?? 0;
    if (!Number.isInteger(skip) || skip < 0) throw new Error(`failNext skip must be a non-negative integer, got ${skip}`);
    for (let i = 0; i < count; i += 1) pendingFaults.push({ mode, on, skip: i === 0 ? skip : 0 });
  }

  /** The first pending fault for this endpoint: applied, or one of its skipped requests. */
  function takeFault(endpoint: PayPalEndpoint): PayPalFaultMode | undefined {
    const index = pendingFaults.findIndex((fault) => faultApplies(fault.on, endpoint));
    if (index < 0) return undefined;
    const fault = pendingFaults[index]!;
    if (fault.skip > 0) {
      fault.skip -= 1;
      return undefined;
    }
    return pendingFaults.splice(index, 1)[0]!.mode;
  }

  function reset(): void {
    pendingFaults.length = 0;
    for (const res of hanging) res.destroy();
    hanging.clear();
    // Access tokens are credentials, not state under test: clients keep theirs across a reset.
    const tokens = state.tokens;
    state = newState();
    state.tokens = tokens;
  }

  function signWebhook(event: object, signOptions: { webhookId?: string; transmissionTime?: string } = {}): SignedWebhook {
    const body = JSON.stringify(event);
    const transmissionId = randomUUID();
    const transmissionTime = signOptions.transmissionTime ?? new Date().toISOString();
    const signer = createSign('RSA-SHA256');
    signer.update(signedString(transmissionId, transmissionTime, signOptions.webhookId ?? webhookId, body));
    return {
      body,
      headers: {
        'paypal-transmission-id': transmissionId,
        'paypal-transmission-time': transmissionTime,
        'paypal-transmission-sig': signer.sign(keys.privateKey, 'base64'),
        'paypal-cert-url': certUrl(),
        'paypal-auth-algo': 'SHA256withRSA',
      },
    };
  }

  function issueToken(req: http.IncomingMessage, body: string): ApiResult {
    const authorization = header(req, 'authorization') ?? '';
    const match = /^Basic\s+(\S+)$/i.exec(authorization);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const separator = decoded.indexOf(':');
    const id = decoded.slice(0, separator);
    const secret = decoded.slice(separator + 1);
    if (separator < 0 || id !== clientId || secret !== clientSecret) {
      return { status: 401, body: { error: 'invalid_client', error_description: 'Client Authentication failed' } };
    }
    const grantType = new URLSearchParams(body).get('grant_type');
    if (grantType !== 'client_credentials') {
      return { status: 400, body: { error: 'unsupported_grant_type', error_description: `Grant Type is NULL or not supported: ${grantType ?? ''}` } };
    }
    const accessToken = `A21AA${randomBytes(48).toString('base64url')}`;
    state.tokens.set(accessToken, { clientId: id, expiresAt: Date.now() + tokenTtlSeconds * 1000 });
    return {
      status: 200,
      body: {
        scope: 'https://uri.paypal.com/services/payments/payment https://uri.paypal.com/services/payments/refund https://uri.paypal.com/services/vault/payment-tokens/readwrite',
        access_token: accessToken,
        token_type: 'Bearer',
        app_id: 'APP-80W284485P519543T',
        expires_in: tokenTtlSeconds,
        nonce: `${new Date().toISOString()}${randomBytes(16).toString('base64url')}`,
      },
    };
  }

  function bearerClient(req: http.IncomingMessage): string | null {
    const match = /^Bearer\s+(\S+)$/i.exec(header(req, 'authorization') ?? '');
    const token = match ? state.tokens.get(match[1]!) : undefined;
    if (!token || token.expiresAt <= Date.now()) return null;
    return token.clientId;
  }

  function verifyWebhookSignature(request: ApiRequest): ApiResult {
    const body = request.body;
    if (!isObject(body)) return paypalError(400, 'VALIDATION_ERROR', [{ issue: 'MALFORMED_REQUEST_JSON', description: 'The request JSON is not well formed.' }]);
    const fields = ['auth_algo', 'cert_url', 'transmission_id', 'transmission_sig', 'transmission_time', 'webhook_id'] as const;
    const missing = fields.filter((field) => typeof body[field] !== 'string' || body[field] === '');
    if (missing.length > 0 || !isObject(body.webhook_event)) {
      const details = [...missing, ...(isObject(body.webhook_event) ? [] : ['webhook_event'])].map((field) => ({
        field,
        location: 'body' as const,
        issue: 'MISSING_REQUIRED_PARAMETER',
        description: 'A required field / parameter is missing.',
      }));
      return paypalError(400, 'VALIDATION_ERROR', details);
    }
    const text = (field: (typeof fields)[number]): string => body[field] as string;
    const failure = { status: 200, body: { verification_status: 'FAILURE' } };
    if (text('webhook_id') !== webhookId || text('cert_url') !== certUrl() || text('auth_algo') !== 'SHA256withRSA') return failure;
    const verifier = createVerify('RSA-SHA256');
    verifier.update(signedString(text('transmission_id'), text('transmission_time'), webhookId, JSON.stringify(body.webhook_event)));
    let valid = false;
    try {
      valid = verifier.verify(keys.publicKeyPem, text('transmission_sig'), 'base64');
    } catch {
      valid = false;
    }
    return valid ? { status: 200, body: { verification_status: 'SUCCESS' } } : failure;
  }

  function execute(request: ApiRequest): ApiResult {
    switch (request.endpoint) {
      case 'create_order':
        return createOrder(state, base, request);
      case 'get_order':
        return getOrder(state, base, request);
      case 'capture_order':
        return captureOrder(state, base, request);
      case 'get_capture':
        return getCapture(state, base, request);
      case 'refund':
        return refundCapture(state, base, request);
      case 'verify_webhook':
        return verifyWebhookSignature(request);
      default:
        return paypalError(404, 'NOT_FOUND');
    }
  }

  /** Replays a stored result (rendered as the resource is now), or executes and stores. */
  function executeIdempotently(request: ApiRequest): { result: ApiResult; replayed: boolean } {
    if (request.method !== 'POST' || request.requestId === null) return { result: execute(request), replayed: false };
    const scope = `${request.clientId}\u0000${request.path}\u0000${request.requestId}`;
    const stored = state.idempotency.get(scope);
    if (stored) {
      switch (stored.kind) {
        case 'order': {
          const order = state.orders.get(stored.orderId)!;
          return { result: { status: stored.status, body: renderOrder(base, order, request.representation) }, replayed: true };
        }
        case 'refund': {
          const refund = state.refunds.find((r) => r.id === stored.refundId)!;
          return { result: { status: stored.status, body: renderRefund(base, refund, request.representation) }, replayed: true };
        }
        case 'raw':
          return { result: { status: stored.status, body: stored.body }, replayed: true };
      }
    }
    const result = execute(request);
    if (result.store) state.idempotency.set(scope, result.store);
    return { result, replayed: false };
  }

  function handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, path: string, body: string): void {
    const action = `${req.method} ${path}`;
    const reply = (status: number, value: unknown): void => send(res, status, value);
    if (action === 'GET /__sandbox/captures') return reply(200, { data: sandbox.captures() });
    if (action === 'GET /__sandbox/refunds') return reply(200, { data: sandbox.refunds() });
    if (action === 'GET /__sandbox/requests') return reply(200, { data: sandbox.requests() });
    if (action === 'GET /__sandbox/faults') return reply(200, sandbox.faults());
    if (action === 'POST /__sandbox/reset') {
      reset();
      return reply(200, sandbox.faults());
    }
    if (action === 'POST /__sandbox/revoke-tokens') {
      state.tokens.clear();
      return reply(200, sandbox.faults());
    }
    if (action === 'POST /__sandbox/faults') {
      try {
        const command = JSON.parse(body || '{}') as { count?: number; mode?: PayPalFaultMode; on?: PayPalFaultTarget; skip?: number; clear?: boolean };
        if (command.clear) pendingFaults.length = 0;
        if (command.count !== undefined) failNext(command.count, command.mode ?? 'server_error', command.on ?? 'charge', { skip: command.skip ?? 0 });
      } catch (error) {
        return reply(400, { name: 'INVALID_REQUEST', message: (error as Error).message });
      }
      return reply(200, sandbox.faults());
    }
    if (action === 'POST /__sandbox/sign-webhook') {
      try {
        return reply(200, signWebhook(JSON.parse(body) as object));
      } catch (error) {
        return reply(400, { name: 'INVALID_REQUEST', message: (error as Error).message });
      }
    }
    return reply(404, { name: 'NOT_FOUND', message: `unknown admin endpoint ${action}` });
  }

  function handleApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): void {
    const method = req.method ?? 'GET';
    const route = matchRoute(method, url.pathname);
    const requestId = header(req, 'paypal-request-id') ?? null;
    const log = (status: PayPalRequestRecord['status'], replayed = false): void => {
      state.requests.push({ method, path: url.pathname, endpoint: route?.endpoint ?? null, requestId, status, replayed });
    };
    const answer = (result: ApiResult, replayed = false): void => {
      log(result.status, replayed);
      send(res, result.status, result.body);
    };
    if (!route) return answer(paypalError(404, 'NOT_FOUND'));

    const fault = takeFault(route.endpoint);
    if (fault === 'server_error') return answer(paypalError(500, 'INTERNAL_SERVER_ERROR'));
    if (fault === 'rate_limit') return answer(paypalError(429, 'RATE_LIMIT_REACHED'));
    if (fault === 'timeout') {
      log('timeout');
      hanging.add(res);
      res.on('close', () => hanging.delete(res));
      return;
    }
    const finish = (result: ApiResult, replayed = false): void => {
      if (fault === 'lost_response') {
        log('lost_response', replayed);
        req.socket.destroy();
        return;
      }
      answer(result, replayed);
    };

    if (route.endpoint === 'oauth') return finish(issueToken(req, body));
    if (route.endpoint === 'get_cert') {
      if (route.params.id !== keys.certId) return finish(notFound(route.params.id ?? ''));
      if (fault === 'lost_response') return finish({ status: 200, body: null });
      log(200);
      res.writeHead(200, { 'Content-Type': 'application/x-pem-file' });
      res.end(keys.publicKeyPem);
      return;
    }
    const client = bearerClient(req);
    if (client === null) return finish(paypalError(401, 'AUTHENTICATION_FAILURE'));
    let json: Json | undefined;
    if (body.trim() !== '') {
      try {
        json = JSON.parse(body) as Json;
      } catch {
        return finish(invalid('MALFORMED_REQUEST_JSON', 'The request JSON is not well formed.'));
      }
    }
    const request: ApiRequest = {
      method,
      path: url.pathname,
      endpoint: route.endpoint,
      params: route.params,
      body: json,
      clientId: client,
      requestId,
      // PayPal's default is return=minimal.
      representation: /return=representation/i.test(header(req, 'prefer') ?? ''),
    };
    const { result, replayed } = executeIdempotently(request);
    finish(result, replayed);
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    readBody(req)
      .then((body) => (url.pathname.startsWith('/__sandbox/') ? handleAdmin(req, res, url.pathname, body) : handleApi(req, res, url, body)))
      .catch((error: Error) => send(res, 500, { name: 'INTERNAL_SERVER_ERROR', message: `paypal-sandbox failed: ${error.message}`, debug_id: debugId() }));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('paypal-sandbox did not get a TCP address');
  const port = address.port;
  base = `http://${host}:${port}`;

  const sandbox: PayPalSandbox = {
    url: base,
    port,
    clientId,
    clientSecret,
    webhookId,
    captures: () =>
      [...state.captures.values()]
        .filter((capture): capture is CaptureState & { status: PayPalCaptureRecord['status'] } =>
          capture.status === 'COMPLETED' || capture.status === 'PARTIALLY_REFUNDED' || capture.status === 'REFUNDED',
        )
        .map((capture) => ({
          id: capture.id,
          orderId: capture.orderId,
          status: capture.status,
          amount: capture.amount.value,
          currency: capture.amount.currency_code,
          requestId: capture.requestId,
          customId: capture.customId,
          invoiceId: capture.invoiceId,
          description: capture.description,
          paymentToken: capture.paymentToken,
          createTime: capture.createTime,
        })),
    refunds: () =>
      state.refunds.map((refund) => ({
        id: refund.id,
        captureId: refund.captureId,
        amount: refund.amount.value,
        currency: refund.amount.currency_code,
        requestId: refund.requestId,
        customId: refund.customId,
        noteToPayer: refund.noteToPayer,
        createTime: refund.createTime,
      })),
    requests: () => [...state.requests],
    reset,
    revokeTokens: () => state.tokens.clear(),
    failNext,
    faults: () => ({ pending: pendingFaults.map((fault) => ({ ...fault })), hanging: hanging.size }),
    signWebhook,
    close: () =>
      new Promise<void>((resolve, reject) => {
        reset();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
  return sandbox;
}

// ---------------------------------------------------------------------------------------------
// CLI

if (require.main === module) {
  runPeerScript('paypal-sandbox', async (args) => {
    const port = Number(argumentValue(args, '--port') ?? process.env.PAYPAL_SANDBOX_PORT ?? 12130);
    const host = argumentValue(args, '--host') ?? '127.0.0.1';
    const sandbox = await startPayPalSandbox({ port, host });
    return { ready: `on ${sandbox.url} (client id ${sandbox.clientId}, webhook id ${sandbox.webhookId})`, close: () => sandbox.close() };
  });
}
