// A local stand-in for Stripe's REST API with test-mode semantics (decline test cards,
// idempotency replay, search that lags behind writes as Stripe's does, lists, refunds never
// exceeding the charge) plus fault injection for failover and crash tests (charges and refunds).
//
// Why it exists: stripe-mock, Stripe's official mock, validates requests against the OpenAPI
// spec but is stateless: it never declines a card and every PaymentIntent comes back
// requires_payment_method. So when a stripe-mock URL is given, every /v1 request is first
// forwarded to stripe-mock for validation (its 4xx/5xx answers are returned unchanged), and
// only then does this simulator answer with its own stateful behaviour.
//
// Run standalone:
//   node -r @swc-node/register test/peers/stripe-simulator.ts --port 12113 --stripe-mock http://127.0.0.1:12111
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { argumentValue, runPeerScript } from './peer-script';

// ---------------------------------------------------------------------------------------------
// Public types

/**
 * server_error: 500 api_error, nothing charged (a failure in front of Stripe's idempotency
 *   layer, so nothing is stored and a retry with the same key charges normally).
 * timeout: the request hangs, nothing charged, until the client gives up.
 * lost_response: the charge happens and its idempotent result is stored, then the socket is
 *   destroyed without an answer.
 * rate_limit: 429 rate_limit_error, nothing charged.
 */
export type FaultMode = 'server_error' | 'timeout' | 'lost_response' | 'rate_limit';
const FAULT_MODES: readonly FaultMode[] = ['server_error', 'timeout', 'lost_response', 'rate_limit'];

/** A PaymentIntent that succeeded: money moved. */
export interface ChargeRecord {
  /** The PaymentIntent id (pi_...), which is what a gateway adapter reports as reference. */
  readonly id: string;
  readonly amount: number;
  readonly currency: string;
  readonly customer: string | null;
  readonly paymentMethod: string;
  readonly idempotencyKey: string | null;
  readonly metadata: Readonly<Record<string, string>>;
  /** Unix seconds, like Stripe's own `created`. */
  readonly created: number;
}

export interface RefundRecord {
  readonly id: string;
  readonly paymentIntent: string;
  readonly amount: number;
  readonly currency: string;
  readonly idempotencyKey: string | null;
  readonly created: number;
}

export interface FaultState {
  /** Faults still to be applied, in order, one per charge request (POST /v1/payment_intents). */
  readonly pending: readonly FaultMode[];
  readonly holdPrefix: string | null;
  /** Responses currently held back by hold(). */
  readonly held: number;
}

export interface StripeSimulatorOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** e.g. http://127.0.0.1:12111; when set every /v1 request is validated by stripe-mock first. */
  stripeMockUrl?: string;
  /**
   * How long a new PaymentIntent stays out of search results. Stripe's search is eventually
   * consistent ("data is searchable within about a minute"; not for read-after-write flows), and
   * the default lag models that. Lists and retrieval by id are consistent.
   */
  searchLagMs?: number;
}

export const DEFAULT_SEARCH_LAG_MS = 60_000;

export interface StripeSimulator {
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
  charges(): ChargeRecord[];
  refunds(): RefundRecord[];
  /** Forgets customers, payment intents, refunds, idempotency keys and faults; the search lag returns to its start value. */
  reset(): void;
  /** Changes how long new PaymentIntents stay out of search results. */
  setSearchLag(ms: number): void;
  /** The next `count` charge requests (POST /v1/payment_intents) fail in the given way. */
  failNext(count: number, mode: FaultMode): void;
  /**
   * The next `count` refund requests (POST /v1/refunds) fail in the given way (lost_response:
   * refunded and stored for the key, then unanswered).
   */
  failNextRefund(count: number, mode: FaultMode): void;
  /**
   * New charges whose Idempotency-Key starts with keyPrefix are recorded as succeeded but their
   * response is held until release() or the client disconnects (simulates a worker dying with a
   * charge in flight). Replays of an already stored result are answered normally.
   */
  hold(keyPrefix: string): void;
  /** Stops holding and sends every held response. */
  release(): void;
  faults(): FaultState;
  waitForCharge(predicate?: (charge: ChargeRecord) => boolean, timeoutMs?: number): Promise<ChargeRecord>;
}

// ---------------------------------------------------------------------------------------------
// Stripe test-mode payment methods (https://docs.stripe.com/testing#declined-payments)

interface CardDecline {
  readonly code: string;
  readonly declineCode: string;
  readonly message: string;
  readonly param?: string;
}

const DECLINED = 'Your card was declined.';
const DECLINES: Readonly<Record<string, CardDecline>> = {
  pm_card_chargeDeclined: { code: 'card_declined', declineCode: 'generic_decline', message: DECLINED },
  pm_card_chargeDeclinedInsufficientFunds: {
    code: 'card_declined',
    declineCode: 'insufficient_funds',
    message: 'Your card has insufficient funds.',
  },
  pm_card_chargeDeclinedLostCard: { code: 'card_declined', declineCode: 'lost_card', message: DECLINED },
  pm_card_chargeDeclinedStolenCard: { code: 'card_declined', declineCode: 'stolen_card', message: DECLINED },
  pm_card_chargeDeclinedFraudulent: { code: 'card_declined', declineCode: 'fraudulent', message: DECLINED },
  pm_card_chargeDeclinedVelocityLimitExceeded: {
    code: 'card_declined',
    declineCode: 'card_velocity_exceeded',
    message: 'Your card was declined for making repeated attempts too frequently or exceeding its amount limit.',
  },
  pm_card_chargeDeclinedExpiredCard: {
    code: 'expired_card',
    declineCode: 'expired_card',
    message: 'Your card has expired.',
    param: 'exp_month',
  },
  pm_card_chargeDeclinedIncorrectCvc: {
    code: 'incorrect_cvc',
    declineCode: 'incorrect_cvc',
    message: "Your card's security code is incorrect.",
    param: 'cvc',
  },
  pm_card_chargeDeclinedProcessingError: {
    code: 'processing_error',
    declineCode: 'processing_error',
    message: 'An error occurred while processing your card. Try again in a little bit.',
  },
};

const AUTHENTICATION_REQUIRED = new Set([
  'pm_card_authenticationRequired',
  'pm_card_threeDSecureRequired',
  'pm_card_threeDSecure2Required',
]);

// Off-session, Stripe does not leave the PaymentIntent in requires_action: it fails the
// confirmation with this card error and the PaymentIntent returns to requires_payment_method.
const OFF_SESSION_AUTHENTICATION: CardDecline = {
  code: 'authentication_required',
  declineCode: 'authentication_required',
  message: 'Your card was declined. This transaction requires authentication.',
};

// Stripe's minimum charge amounts (https://docs.stripe.com/currencies#minimum-and-maximum-charge-amounts).
const MINIMUM_AMOUNT: Readonly<Record<string, number>> = { usd: 50, eur: 50, gbp: 30 };

/** Stripe documents pm_card_visa_chargeDeclined... as well as pm_card_chargeDeclined...; both mean the same. */
function canonicalTestPaymentMethod(id: string): string {
  return id.startsWith('pm_card_visa_chargeDeclined') ? id.replace('pm_card_visa_', 'pm_card_') : id;
}

// ---------------------------------------------------------------------------------------------
// Form-encoded parameters (Stripe's a[b][c]=v, a[]=v encoding)

type Param = string | Param[] | Params;
interface Params {
  [key: string]: Param;
}

function parseForm(encoded: string): Params {
  const root: Params = {};
  for (const [rawKey, value] of new URLSearchParams(encoded)) {
    const match = /^([^[\]]+)((?:\[[^\]]*\])*)$/.exec(rawKey);
    if (!match) continue;
    const path = [match[1]!, ...[...match[2]!.matchAll(/\[([^\]]*)\]/g)].map((m) => m[1]!)];
    assignPath(root, path, value);
  }
  return root;
}

function assignPath(root: Params, path: string[], value: string): void {
  let node: Params | Param[] = root;
  path.forEach((segment, index) => {
    const last = index === path.length - 1;
    const next = path[index + 1];
    if (Array.isArray(node)) {
      // a[]=x appends; nested objects inside arrays are not used by the endpoints simulated here.
      if (last) node.push(value);
      return;
    }
    if (last) {
      node[segment] = value;
      return;
    }
    const existing: Param | undefined = node[segment];
    const child: Params | Param[] =
      typeof existing === 'object' ? existing : next === '' ? [] : {};
    node[segment] = child;
    node = child;
  });
}

function stringParam(params: Params, key: string): string | undefined {
  const value = params[key];
  return typeof value === 'string' ? value : undefined;
}

function metadataParam(params: Params): Record<string, string> {
  const value = params.metadata;
  if (value === undefined || typeof value === 'string' || Array.isArray(value)) return {};
  const metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(value)) {
    if (typeof entry === 'string' && entry !== '') metadata[key] = entry;
  }
  return metadata;
}

function truthy(value: string | undefined): boolean {
  // off_session also accepts 'one_off' and 'recurring'.
  return value !== undefined && value !== 'false' && value !== '';
}

/** Stable form of the parameters, so that the same request encoded twice compares equal. */
function canonical(value: Param): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const keys = Object.keys(value).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k]!)}`).join(',')}}`;
}

// ---------------------------------------------------------------------------------------------
// Stripe objects and errors

const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

function stripeId(prefix: string, length = 24): string {
  const bytes = randomBytes(length);
  let id = '';
  for (const byte of bytes) id += ID_ALPHABET[byte % ID_ALPHABET.length];
  return `${prefix}_${id}`;
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

interface StripeErrorBody {
  type: 'card_error' | 'invalid_request_error' | 'api_error' | 'idempotency_error' | 'rate_limit_error';
  message: string;
  code?: string;
  decline_code?: string;
  param?: string;
  payment_intent?: unknown;
  charge?: string;
  doc_url?: string;
}

interface ApiResult {
  status: number;
  body: unknown;
  /** Set when this request moved money. */
  charge?: ChargeRecord;
}

function ok(body: unknown): ApiResult {
  return { status: 200, body };
}

function fail(status: number, error: StripeErrorBody): ApiResult {
  const docUrl = error.code ? `https://stripe.com/docs/error-codes/${error.code.replace(/_/g, '-')}` : undefined;
  return { status, body: { error: { doc_url: docUrl, ...error } } };
}

function invalidRequest(message: string, param?: string, code?: string): ApiResult {
  return fail(400, { type: 'invalid_request_error', message, param, code });
}

function noSuch(kind: string, id: string, param: string, status = 400): ApiResult {
  return fail(status, { type: 'invalid_request_error', code: 'resource_missing', message: `No such ${kind}: '${id}'`, param });
}

interface LastPaymentError {
  type: 'card_error';
  code: string;
  decline_code: string;
  message: string;
  param?: string;
  charge: string;
  payment_method: { id: string; object: 'payment_method'; type: 'card' };
}

interface PaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  amount_capturable: number;
  amount_received: number;
  capture_method: 'automatic';
  client_secret: string;
  confirmation_method: 'automatic';
  created: number;
  currency: string;
  customer: string | null;
  description: string | null;
  last_payment_error: LastPaymentError | null;
  latest_charge: string | null;
  livemode: false;
  metadata: Record<string, string>;
  next_action: unknown;
  payment_method: string | null;
  payment_method_types: string[];
  status: 'requires_payment_method' | 'requires_action' | 'succeeded';
  canceled_at: null;
  cancellation_reason: null;
  setup_future_usage: null;
  statement_descriptor: null;
}

interface Customer {
  id: string;
  object: 'customer';
  created: number;
  email: string | null;
  name: string | null;
  description: string | null;
  metadata: Record<string, string>;
  livemode: false;
  balance: number;
  currency: null;
  default_source: null;
  delinquent: false;
  invoice_settings: { default_payment_method: string | null; custom_fields: null; footer: null };
}

interface Refund {
  id: string;
  object: 'refund';
  amount: number;
  balance_transaction: string;
  charge: string | null;
  created: number;
  currency: string;
  destination_details: { type: 'card'; card: { reference_status: 'pending'; reference_type: 'acquirer_reference_number'; type: 'refund' } };
  metadata: Record<string, string>;
  payment_intent: string;
  reason: string | null;
  receipt_number: null;
  source_transfer_reversal: null;
  status: 'succeeded';
  transfer_reversal: null;
}

// ---------------------------------------------------------------------------------------------
// State and API behaviour

interface StoredResponse {
  fingerprint: string;
  status: number;
  body: string;
  requestId: string;
}

interface ApiRequest {
  method: string;
  path: string;
  params: Params;
  apiKey: string;
  idempotencyKey: string | null;
}

class SimulatorState {
  constructor(public searchLagMs: number) {}
  customers = new Map<string, Customer>();
  paymentIntents = new Map<string, PaymentIntent>();
  /** When each PaymentIntent was written (ms), for the search index's lag. */
  writtenAt = new Map<string, number>();
  refunds = new Map<string, Refund>();
  refundRecords: RefundRecord[] = [];
  chargeRecords: ChargeRecord[] = [];
  idempotency = new Map<string, StoredResponse>();
}

function createCustomer(state: SimulatorState, params: Params): ApiResult {
  const customer: Customer = {
    id: stripeId('cus', 14),
    object: 'customer',
    created: nowSeconds(),
    email: stringParam(params, 'email') ?? null,
    name: stringParam(params, 'name') ?? null,
    description: stringParam(params, 'description') ?? null,
    metadata: metadataParam(params),
    livemode: false,
    balance: 0,
    currency: null,
    default_source: null,
    delinquent: false,
    invoice_settings: { default_payment_method: null, custom_fields: null, footer: null },
  };
  state.customers.set(customer.id, customer);
  return ok(customer);
}

function retrieve<T>(map: Map<string, T>, kind: string, id: string): ApiResult {
  const found = map.get(id);
  return found ? ok(found) : noSuch(kind, id, 'id', 404);
}

function validateMetadata(metadata: Record<string, string>): ApiResult | null {
  // Stripe's documented limits: 50 keys, keys up to 40 characters, values up to 500.
  if (Object.keys(metadata).length > 50) return invalidRequest('Invalid metadata: at most 50 keys', 'metadata');
  for (const [key, value] of Object.entries(metadata)) {
    if (key.length > 40) return invalidRequest(`Invalid metadata: key '${key}' is longer than 40 characters`, 'metadata');
    if (value.length > 500) return invalidRequest(`Invalid metadata: value of '${key}' is longer than 500 characters`, 'metadata');
  }
  return null;
}

interface PaymentIntentInput {
  amount: number;
  currency: string;
  customer: string | null;
  paymentMethod: string | null;
  confirm: boolean;
  offSession: boolean;
  description: string | null;
  metadata: Record<string, string>;
}

function readPaymentIntentInput(state: SimulatorState, params: Params): PaymentIntentInput | ApiResult {
  const amountText = stringParam(params, 'amount');
  const currency = stringParam(params, 'currency')?.toLowerCase();
  if (amountText === undefined) return invalidRequest('Missing required param: amount.', 'amount', 'parameter_missing');
  if (currency === undefined) return invalidRequest('Missing required param: currency.', 'currency', 'parameter_missing');
  const amount = Number(amountText);
  if (!/^\d+$/.test(amountText) || !Number.isSafeInteger(amount)) {
    return invalidRequest('Invalid integer: ' + amountText, 'amount');
  }
  const minimum = MINIMUM_AMOUNT[currency] ?? 50;
  if (amount < minimum) {
    return invalidRequest(`Amount must be at least ${minimum} ${currency} minor units`, 'amount', 'amount_too_small');
  }
  const customer = stringParam(params, 'customer') ?? null;
  if (customer !== null && !state.customers.has(customer)) return noSuch('customer', customer, 'customer');
  const paymentMethod = stringParam(params, 'payment_method') ?? null;
  // Simulator convention: any pm_ id exists except those starting pm_missing (and non-pm_ ids).
  if (paymentMethod !== null && (!paymentMethod.startsWith('pm_') || paymentMethod.startsWith('pm_missing'))) {
    return noSuch('PaymentMethod', paymentMethod, 'payment_method');
  }
  const confirm = truthy(stringParam(params, 'confirm'));
  if (confirm && paymentMethod === null) {
    return invalidRequest('You cannot confirm this PaymentIntent because it is missing a payment method.', 'payment_method', 'parameter_missing');
  }
  const metadata = metadataParam(params);
  const metadataError = validateMetadata(metadata);
  if (metadataError) return metadataError;
  return {
    amount,
    currency,
    customer,
    paymentMethod,
    confirm,
    offSession: truthy(stringParam(params, 'off_session')),
    description: stringParam(params, 'description') ?? null,
    metadata,
  };
}

function newPaymentIntent(input: PaymentIntentInput): PaymentIntent {
  const id = stripeId('pi');
  return {
    id,
    object: 'payment_intent',
    amount: input.amount,
    amount_capturable: 0,
    amount_received: 0,
    capture_method: 'automatic',
    client_secret: `${id}_secret_${randomBytes(12).toString('hex')}`,
    confirmation_method: 'automatic',
    created: nowSeconds(),
    currency: input.currency,
    customer: input.customer,
    description: input.description,
    last_payment_error: null,
    latest_charge: null,
    livemode: false,
    metadata: input.metadata,
    next_action: null,
    payment_method: input.paymentMethod,
    payment_method_types: ['card'],
    status: 'requires_payment_method',
    canceled_at: null,
    cancellation_reason: null,
    setup_future_usage: null,
    statement_descriptor: null,
  };
}

function declineFor(paymentMethod: string, offSession: boolean): CardDecline | null {
  const decline = DECLINES[canonicalTestPaymentMethod(paymentMethod)];
  if (decline) return decline;
  if (AUTHENTICATION_REQUIRED.has(paymentMethod) && offSession) return OFF_SESSION_AUTHENTICATION;
  return null;
}

function declinePaymentIntent(pi: PaymentIntent, decline: CardDecline): ApiResult {
  const charge = stripeId('ch');
  pi.latest_charge = charge;
  pi.last_payment_error = {
    type: 'card_error',
    code: decline.code,
    decline_code: decline.declineCode,
    message: decline.message,
    param: decline.param,
    charge,
    payment_method: { id: pi.payment_method!, object: 'payment_method', type: 'card' },
  };
  return fail(402, {
    type: 'card_error',
    code: decline.code,
    decline_code: decline.declineCode,
    message: decline.message,
    param: decline.param,
    charge,
    payment_intent: structuredClone(pi),
  });
}

function succeedPaymentIntent(state: SimulatorState, pi: PaymentIntent, idempotencyKey: string | null): ApiResult {
  pi.status = 'succeeded';
  pi.amount_received = pi.amount;
  pi.latest_charge = stripeId('ch');
  const charge: ChargeRecord = {
    id: pi.id,
    amount: pi.amount,
    currency: pi.currency,
    customer: pi.customer,
    paymentMethod: pi.payment_method!,
    idempotencyKey,
    metadata: { ...pi.metadata },
    created: pi.created,
  };
  state.chargeRecords.push(charge);
  return { status: 200, body: structuredClone(pi), charge };
}

function confirmPaymentIntent(state: SimulatorState, pi: PaymentIntent, input: PaymentIntentInput, key: string | null): ApiResult {
  const paymentMethod = input.paymentMethod!;
  const decline = declineFor(paymentMethod, input.offSession);
  if (decline) return declinePaymentIntent(pi, decline);
  if (AUTHENTICATION_REQUIRED.has(paymentMethod)) {
    pi.status = 'requires_action';
    pi.next_action = { type: 'use_stripe_sdk', use_stripe_sdk: { type: 'three_d_secure_redirect', stripe_js: '' } };
    return ok(structuredClone(pi));
  }
  return succeedPaymentIntent(state, pi, key);
}

function createPaymentIntent(state: SimulatorState, request: ApiRequest): ApiResult {
  const input = readPaymentIntentInput(state, request.params);
  if ('status' in input) return input;
  const pi = newPaymentIntent(input);
  state.paymentIntents.set(pi.id, pi);
  state.writtenAt.set(pi.id, Date.now());
  if (!input.confirm) return ok(structuredClone(pi));
  return confirmPaymentIntent(state, pi, input, request.idempotencyKey);
}

// Stripe search query language, the subset used here: field:'value' clauses joined by AND or
// by OR (Stripe forbids mixing them). Fields: metadata['key'], status, customer, currency, amount.
interface SearchClause {
  field: string;
  metadataKey?: string;
  value: string;
}

const CLAUSE = /\s*(?:metadata\[(['"])((?:\\.|(?!\1).)*)\1\]|([a-z_]+))\s*:\s*(?:(['"])((?:\\.|(?!\4).)*)\4|(-?\d+))\s*/y;
const CONNECTIVE = /(AND|OR)(?=\s)/y;

function unescape(text: string): string {
  return text.replace(/\\(.)/g, '$1');
}

function parseSearchQuery(query: string): { clauses: SearchClause[]; any: boolean } | string {
  const clauses: SearchClause[] = [];
  const connectives = new Set<string>();
  let position = 0;
  for (;;) {
    CLAUSE.lastIndex = position;
    const match = CLAUSE.exec(query);
    if (!match) return `Unsupported or invalid search query at position ${position}: ${query}`;
    const [, , metadataKey, field, , quoted, number] = match;
    clauses.push(
      metadataKey !== undefined
        ? { field: 'metadata', metadataKey: unescape(metadataKey), value: unescape(quoted ?? number ?? '') }
        : { field: field!, value: unescape(quoted ?? number ?? '') },
    );
    position = CLAUSE.lastIndex;
    if (position >= query.length) break;
    CONNECTIVE.lastIndex = position;
    const connective = CONNECTIVE.exec(query);
    if (!connective) return `Unsupported or invalid search query at position ${position}: ${query}`;
    connectives.add(connective[1]!);
    position = CONNECTIVE.lastIndex;
  }
  if (connectives.size > 1) return 'Search queries cannot mix AND and OR.';
  return { clauses, any: connectives.has('OR') };
}

function clauseMatches(pi: PaymentIntent, clause: SearchClause): boolean {
  switch (clause.field) {
    case 'metadata':
      return pi.metadata[clause.metadataKey!] === clause.value;
    case 'status':
      return pi.status === clause.value;
    case 'customer':
      return pi.customer === clause.value;
    case 'currency':
      return pi.currency === clause.value.toLowerCase();
    case 'amount':
      return String(pi.amount) === clause.value;
    default:
      return false;
  }
}

const SEARCHABLE = new Set(['metadata', 'status', 'customer', 'currency', 'amount']);

function searchPaymentIntents(state: SimulatorState, params: Params): ApiResult {
  const query = stringParam(params, 'query');
  if (query === undefined) return invalidRequest('Missing required param: query.', 'query', 'parameter_missing');
  const parsed = parseSearchQuery(query);
  if (typeof parsed === 'string') return invalidRequest(parsed, 'query');
  const unknown = parsed.clauses.find((c) => !SEARCHABLE.has(c.field));
  if (unknown) return invalidRequest(`Field '${unknown.field}' is not searchable in this simulator`, 'query');
  const limit = Math.min(Number(stringParam(params, 'limit') ?? 10) || 10, 100);
  const indexedBefore = Date.now() - state.searchLagMs;
  const matches = [...state.paymentIntents.values()]
    .filter((pi) => state.writtenAt.get(pi.id)! <= indexedBefore)
    .filter((pi) => (parsed.any ? parsed.clauses.some((c) => clauseMatches(pi, c)) : parsed.clauses.every((c) => clauseMatches(pi, c))))
    .reverse(); // newest first, as Stripe orders search results
  return ok({
    object: 'search_result',
    data: matches.slice(0, limit).map((pi) => structuredClone(pi)),
    has_more: matches.length > limit,
    next_page: null,
    url: '/v1/payment_intents/search',
  });
}

/** created[gte|gt|lte|lt]=unix seconds, or created=unix seconds. */
function createdMatches(created: Param | undefined, seconds: number): boolean {
  if (created === undefined) return true;
  if (typeof created === 'string') return seconds === Number(created);
  if (Array.isArray(created)) return true;
  const bound = (key: string) => (typeof created[key] === 'string' ? Number(created[key]) : undefined);
  const [gte, gt, lte, lt] = [bound('gte'), bound('gt'), bound('lte'), bound('lt')];
  return (gte === undefined || seconds >= gte) && (gt === undefined || seconds > gt) && (lte === undefined || seconds <= lte) && (lt === undefined || seconds < lt);
}

/** GET /v1/payment_intents: newest first, filtered by customer and created, paged by starting_after. */
function listPaymentIntents(state: SimulatorState, params: Params): ApiResult {
  const limit = Math.min(Number(stringParam(params, 'limit') ?? 10) || 10, 100);
  const customer = stringParam(params, 'customer');
  const startingAfter = stringParam(params, 'starting_after');
  let matches = [...state.paymentIntents.values()]
    .filter((pi) => (customer === undefined || pi.customer === customer) && createdMatches(params.created, pi.created))
    .reverse();
  if (startingAfter !== undefined) {
    const index = matches.findIndex((pi) => pi.id === startingAfter);
    if (index < 0) return noSuch('payment_intent', startingAfter, 'starting_after');
    matches = matches.slice(index + 1);
  }
  return ok({ object: 'list', data: matches.slice(0, limit).map((pi) => structuredClone(pi)), has_more: matches.length > limit, url: '/v1/payment_intents' });
}

function refundedSoFar(state: SimulatorState, paymentIntent: string): number {
  return state.refundRecords.filter((r) => r.paymentIntent === paymentIntent).reduce((total, r) => total + r.amount, 0);
}

function createRefund(state: SimulatorState, request: ApiRequest): ApiResult {
  const id = stringParam(request.params, 'payment_intent');
  if (id === undefined) return invalidRequest('Missing required param: payment_intent.', 'payment_intent', 'parameter_missing');
  const pi = state.paymentIntents.get(id);
  if (!pi) return noSuch('payment_intent', id, 'payment_intent');
  if (pi.status !== 'succeeded') {
    return invalidRequest(`This PaymentIntent (${id}) does not have a successful charge to refund.`, 'payment_intent', 'charge_not_refundable');
  }
  const remaining = pi.amount - refundedSoFar(state, id);
  if (remaining === 0) return invalidRequest(`Charge ${pi.latest_charge} has already been refunded.`, undefined, 'charge_already_refunded');
  const amountText = stringParam(request.params, 'amount');
  const amount = amountText === undefined ? remaining : Number(amountText);
  if (!Number.isSafeInteger(amount) || amount <= 0) return invalidRequest('Invalid positive integer', 'amount');
  if (amount > remaining) {
    return invalidRequest(`Refund amount (${amount}) is greater than unrefunded amount on charge (${remaining})`, 'amount', 'amount_too_large');
  }
  const metadata = metadataParam(request.params);
  const metadataError = validateMetadata(metadata);
  if (metadataError) return metadataError;
  // Card refunds succeed at once in test mode; the acquirer reference comes later.
  const refund: Refund = {
    id: stripeId('re'),
    object: 'refund',
    amount,
    balance_transaction: stripeId('txn'),
    charge: pi.latest_charge,
    created: nowSeconds(),
    currency: pi.currency,
    destination_details: { type: 'card', card: { reference_status: 'pending', reference_type: 'acquirer_reference_number', type: 'refund' } },
    metadata,
    payment_intent: id,
    reason: stringParam(request.params, 'reason') ?? null,
    receipt_number: null,
    source_transfer_reversal: null,
    status: 'succeeded',
    transfer_reversal: null,
  };
  state.refunds.set(refund.id, refund);
  state.refundRecords.push({ id: refund.id, paymentIntent: id, amount, currency: pi.currency, idempotencyKey: request.idempotencyKey, created: refund.created });
  return ok(refund);
}

function route(state: SimulatorState, request: ApiRequest): ApiResult {
  const { method, path, params } = request;
  if (method === 'POST' && path === '/v1/customers') return createCustomer(state, params);
  if (method === 'POST' && path === '/v1/payment_intents') return createPaymentIntent(state, request);
  if (method === 'GET' && path === '/v1/payment_intents/search') return searchPaymentIntents(state, params);
  if (method === 'GET' && path === '/v1/payment_intents') return listPaymentIntents(state, params);
  if (method === 'POST' && path === '/v1/refunds') return createRefund(state, request);
  const [, resource, id, extra] = path.split('/').slice(1);
  if (method === 'GET' && id && extra === undefined) {
    if (resource === 'customers') return retrieve(state.customers, 'customer', id);
    if (resource === 'payment_intents') return retrieve(state.paymentIntents, 'payment_intent', id);
    if (resource === 'refunds') return retrieve(state.refunds, 'refund', id);
  }
  return fail(404, { type: 'invalid_request_error', message: `The Stripe simulator does not implement ${method} ${path}` });
}

// ---------------------------------------------------------------------------------------------
// HTTP plumbing

const MAX_BODY_BYTES = 1_000_000;

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) req.destroy(new Error('request body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.headersSent) return;
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

function header(req: http.IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function authenticate(req: http.IncomingMessage): string | ApiResult {
  const authorization = header(req, 'authorization');
  const match = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization) : null;
  if (!match) {
    return fail(401, {
      type: 'invalid_request_error',
      message: 'You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth.',
    });
  }
  const key = match[1]!;
  // Test mode only: a live key here is a configuration mistake worth failing loudly on.
  if (!/^(sk|rk)_test_\w+$/.test(key)) {
    return fail(401, { type: 'invalid_request_error', message: `Invalid API Key provided: ${key.slice(0, 8)}****${key.slice(-4)}` });
  }
  return key;
}

interface ForwardedAnswer {
  status: number;
  body: string;
  contentType: string;
}

/** Lets stripe-mock validate the request shape against Stripe's OpenAPI spec. */
async function validateWithStripeMock(stripeMockUrl: string, req: http.IncomingMessage, body: string): Promise<ForwardedAnswer> {
  const headers: Record<string, string> = {};
  for (const name of ['authorization', 'stripe-version', 'content-type']) {
    const value = header(req, name);
    if (value !== undefined) headers[name] = value;
  }
  const method = req.method ?? 'GET';
  try {
    const response = await fetch(new URL(req.url ?? '/', stripeMockUrl), {
      method,
      headers,
      body: method === 'GET' || method === 'HEAD' ? undefined : body,
    });
    return { status: response.status, body: await response.text(), contentType: response.headers.get('content-type') ?? 'application/json' };
  } catch (error) {
    const message = `stripe-simulator could not reach stripe-mock at ${stripeMockUrl}: ${(error as Error).message}`;
    return { status: 500, body: JSON.stringify({ error: { type: 'api_error', message } }), contentType: 'application/json' };
  }
}

// ---------------------------------------------------------------------------------------------
// The server

export async function startStripeSimulator(options: StripeSimulatorOptions = {}): Promise<StripeSimulator> {
  const host = options.host ?? '127.0.0.1';
  const initialSearchLagMs = options.searchLagMs ?? DEFAULT_SEARCH_LAG_MS;
  const state = { current: new SimulatorState(initialSearchLagMs) };
  const pendingFaults: FaultMode[] = [];
  const pendingRefundFaults: FaultMode[] = [];
  let holdPrefix: string | null = null;
  const held = new Map<http.ServerResponse, () => void>();
  const hanging = new Set<http.ServerResponse>();
  const events = new EventEmitter();
  events.setMaxListeners(0);

  function faults(): FaultState {
    return { pending: [...pendingFaults], holdPrefix, held: held.size };
  }

  function queueFaults(queue: FaultMode[], count: number, mode: FaultMode): void {
    if (!Number.isInteger(count) || count < 0) throw new Error(`failNext count must be a non-negative integer, got ${count}`);
    if (!FAULT_MODES.includes(mode)) throw new Error(`unknown fault mode ${String(mode)}`);
    for (let i = 0; i < count; i += 1) queue.push(mode);
  }

  function failNext(count: number, mode: FaultMode): void {
    queueFaults(pendingFaults, count, mode);
  }

  function failNextRefund(count: number, mode: FaultMode): void {
    queueFaults(pendingRefundFaults, count, mode);
  }

  function release(): void {
    holdPrefix = null;
    for (const send of [...held.values()]) send();
    held.clear();
  }

  function reset(): void {
    release();
    pendingFaults.length = 0;
    pendingRefundFaults.length = 0;
    for (const res of hanging) res.destroy();
    hanging.clear();
    state.current = new SimulatorState(initialSearchLagMs);
  }

  function hangUntilClientLeaves(res: http.ServerResponse): void {
    hanging.add(res);
    res.on('close', () => hanging.delete(res));
  }

  function holdResponse(res: http.ServerResponse, send: () => void): void {
    held.set(res, send);
    // A client that disconnects (a killed worker) just never hears the answer.
    res.on('close', () => held.delete(res));
  }

  function waitForCharge(predicate: (charge: ChargeRecord) => boolean = () => true, timeoutMs = 10_000): Promise<ChargeRecord> {
    const existing = state.current.chargeRecords.find(predicate);
    if (existing) return Promise.resolve(existing);
    return new Promise((resolve, reject) => {
      const onCharge = (charge: ChargeRecord): void => {
        if (!predicate(charge)) return;
        clearTimeout(timer);
        events.off('charge', onCharge);
        resolve(charge);
      };
      const timer = setTimeout(() => {
        events.off('charge', onCharge);
        reject(new Error(`no matching charge within ${timeoutMs} ms`));
      }, timeoutMs);
      events.on('charge', onCharge);
    });
  }

  /** Replays a stored idempotent result, executes the request, or refuses a reused key. */
  function executeIdempotently(request: ApiRequest): { result: ApiResult; requestId: string; originalRequestId?: string } {
    const requestId = stripeId('req', 14);
    const { idempotencyKey } = request;
    if (request.method !== 'POST' || idempotencyKey === null) {
      return { result: route(state.current, request), requestId };
    }
    if (idempotencyKey.length > 255) {
      return { result: invalidRequest('Idempotency-Key must be at most 255 characters long.', 'Idempotency-Key'), requestId };
    }
    const scope = `${request.apiKey}\u0000${idempotencyKey}`;
    const fingerprint = `${request.method} ${request.path} ${canonical(request.params)}`;
    const stored = state.current.idempotency.get(scope);
    if (stored && stored.fingerprint !== fingerprint) {
      const message = `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${idempotencyKey}' if you meant to execute a different request.`;
      return { result: fail(400, { type: 'idempotency_error', message }), requestId };
    }
    if (stored) {
      return { result: { status: stored.status, body: JSON.parse(stored.body) }, requestId, originalRequestId: stored.requestId };
    }
    const result = route(state.current, request);
    // Stripe saves a result only once the endpoint started executing: successes and card
    // errors are replayed, validation errors are not.
    if (result.status < 400 || result.status === 402) {
      state.current.idempotency.set(scope, { fingerprint, status: result.status, body: JSON.stringify(result.body), requestId });
    }
    return { result, requestId };
  }

  async function handleApi(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): Promise<void> {
    if (options.stripeMockUrl) {
      const mock = await validateWithStripeMock(options.stripeMockUrl, req, body);
      if (mock.status >= 400) {
        sendJson(res, mock.status, mock.body, { 'Content-Type': mock.contentType });
        return;
      }
    }
    const apiKey = authenticate(req);
    if (typeof apiKey !== 'string') {
      sendJson(res, apiKey.status, JSON.stringify(apiKey.body));
      return;
    }
    const method = req.method ?? 'GET';
    const request: ApiRequest = {
      method,
      path: url.pathname,
      params: parseForm(method === 'GET' ? url.search.slice(1) : body),
      apiKey,
      idempotencyKey: header(req, 'idempotency-key') ?? null,
    };
    const isCharge = method === 'POST' && url.pathname === '/v1/payment_intents';
    const isRefund = method === 'POST' && url.pathname === '/v1/refunds';
    const fault = isCharge ? pendingFaults.shift() : isRefund ? pendingRefundFaults.shift() : undefined;
    if (fault === 'server_error') {
      const result = fail(500, { type: 'api_error', message: 'An unknown error occurred (injected by stripe-simulator).' });
      sendJson(res, result.status, JSON.stringify(result.body), { 'Request-Id': stripeId('req', 14) });
      return;
    }
    if (fault === 'rate_limit') {
      const result = fail(429, { type: 'rate_limit_error', code: 'rate_limit', message: 'Too many requests hit the API too quickly (injected by stripe-simulator).' });
      sendJson(res, result.status, JSON.stringify(result.body), { 'Request-Id': stripeId('req', 14) });
      return;
    }
    if (fault === 'timeout') {
      hangUntilClientLeaves(res);
      return;
    }
    const { result, requestId, originalRequestId } = executeIdempotently(request);
    const replayed = originalRequestId !== undefined;
    if (result.charge && !replayed) events.emit('charge', result.charge);
    if (fault === 'lost_response') {
      req.socket.destroy();
      return;
    }
    const headers: Record<string, string> = { 'Request-Id': requestId };
    if (request.idempotencyKey !== null) headers['Idempotency-Key'] = request.idempotencyKey;
    if (replayed) {
      headers['Idempotent-Replayed'] = 'true';
      headers['Original-Request'] = originalRequestId;
    }
    const send = (): void => sendJson(res, result.status, JSON.stringify(result.body), headers);
    const shouldHold = result.charge && !replayed && holdPrefix !== null && request.idempotencyKey?.startsWith(holdPrefix);
    if (shouldHold) holdResponse(res, send);
    else send();
  }

  async function handleAdmin(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: string): Promise<void> {
    const reply = (status: number, value: unknown): void => sendJson(res, status, JSON.stringify(value));
    const action = `${req.method} ${url.pathname}`;
    if (action === 'GET /__sim/charges') return reply(200, { data: state.current.chargeRecords });
    if (action === 'GET /__sim/refunds') return reply(200, { data: state.current.refundRecords });
    if (action === 'GET /__sim/faults') return reply(200, faults());
    if (action === 'POST /__sim/reset') {
      reset();
      return reply(200, faults());
    }
    if (action === 'POST /__sim/release') {
      release();
      return reply(200, faults());
    }
    if (action === 'POST /__sim/faults') {
      let command: FaultCommand;
      try {
        command = JSON.parse(body || '{}') as FaultCommand;
        applyFaultCommand(command);
      } catch (error) {
        return reply(400, { error: { type: 'invalid_request_error', message: (error as Error).message } });
      }
      return reply(200, faults());
    }
    return reply(404, { error: { type: 'invalid_request_error', message: `unknown admin endpoint ${action}` } });
  }

  function applyFaultCommand(command: FaultCommand): void {
    if (command.clear) pendingFaults.length = 0;
    if (command.failNext !== undefined) failNext(command.failNext, command.mode ?? 'server_error');
    if (command.failNextRefund !== undefined) failNextRefund(command.failNextRefund, command.mode ?? 'server_error');
    if (command.hold !== undefined) holdPrefix = command.hold;
    if (command.release) release();
    if (command.searchLagMs !== undefined) setSearchLag(command.searchLagMs);
  }

  function setSearchLag(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) throw new Error(`searchLagMs must be a non-negative number, got ${ms}`);
    state.current.searchLagMs = ms;
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://simulator');
    readBody(req)
      .then((body) => (url.pathname.startsWith('/__sim/') ? handleAdmin(req, res, url, body) : handleApi(req, res, url, body)))
      .catch((error: Error) => {
        sendJson(res, 500, JSON.stringify({ error: { type: 'api_error', message: `stripe-simulator failed: ${error.message}` } }));
      });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('stripe-simulator did not get a TCP address');
  const port = address.port;

  return {
    url: `http://${host}:${port}`,
    port,
    charges: () => [...state.current.chargeRecords],
    refunds: () => [...state.current.refundRecords],
    reset,
    setSearchLag,
    failNext,
    failNextRefund,
    hold: (keyPrefix: string) => {
      holdPrefix = keyPrefix;
    },
    release,
    faults,
    waitForCharge,
    close: () =>
      new Promise<void>((resolve, reject) => {
        reset();
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/** Body of POST /__sim/faults. */
export interface FaultCommand {
  failNext?: number;
  /** Refund requests to fail, in `mode`. */
  failNextRefund?: number;
  mode?: FaultMode;
  hold?: string | null;
  release?: boolean;
  clear?: boolean;
  searchLagMs?: number;
}

// ---------------------------------------------------------------------------------------------
// A client for the admin API, for tests that run the simulator in another process.

export interface StripeSimulatorAdmin {
  charges(): Promise<ChargeRecord[]>;
  refunds(): Promise<RefundRecord[]>;
  reset(): Promise<void>;
  failNext(count: number, mode: FaultMode): Promise<void>;
  failNextRefund(count: number, mode: FaultMode): Promise<void>;
  hold(keyPrefix: string): Promise<void>;
  release(): Promise<void>;
  faults(): Promise<FaultState>;
  waitForCharge(predicate?: (charge: ChargeRecord) => boolean, timeoutMs?: number): Promise<ChargeRecord>;
}

export function stripeSimulatorAdmin(baseUrl: string): StripeSimulatorAdmin {
  async function call<T>(method: 'GET' | 'POST', path: string, body?: FaultCommand): Promise<T> {
    const response = await fetch(new URL(path, baseUrl), {
      method,
      headers: body ? { 'Content-Type': 'application/json' } : undefined,
      body: body ? JSON.stringify(body) : undefined,
    });
    const text = await response.text();
    if (!response.ok) throw new Error(`stripe-simulator ${method} ${path} answered ${response.status}: ${text}`);
    return JSON.parse(text) as T;
  }
  const charges = async (): Promise<ChargeRecord[]> => (await call<{ data: ChargeRecord[] }>('GET', '/__sim/charges')).data;
  return {
    charges,
    refunds: async () => (await call<{ data: RefundRecord[] }>('GET', '/__sim/refunds')).data,
    reset: async () => void (await call('POST', '/__sim/reset')),
    failNext: async (count, mode) => void (await call('POST', '/__sim/faults', { failNext: count, mode })),
    failNextRefund: async (count, mode) => void (await call('POST', '/__sim/faults', { failNextRefund: count, mode })),
    hold: async (keyPrefix) => void (await call('POST', '/__sim/faults', { hold: keyPrefix })),
    release: async () => void (await call('POST', '/__sim/release')),
    faults: () => call<FaultState>('GET', '/__sim/faults'),
    waitForCharge: async (predicate = () => true, timeoutMs = 10_000) => {
      // Polling is enough across processes; charges appear within milliseconds.
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = (await charges()).find(predicate);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`no matching charge within ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// CLI

if (require.main === module) {
  runPeerScript('stripe-simulator', async (args) => {
    const port = Number(argumentValue(args, '--port') ?? process.env.STRIPE_SIMULATOR_PORT ?? 12113);
    const stripeMockUrl = argumentValue(args, '--stripe-mock') ?? process.env.STRIPE_MOCK_URL;
    const host = argumentValue(args, '--host') ?? '127.0.0.1';
    const simulator = await startStripeSimulator({ port, host, stripeMockUrl });
    return { ready: `on ${simulator.url} (stripe-mock: ${stripeMockUrl ?? 'none'})`, close: () => simulator.close() };
  });
}
