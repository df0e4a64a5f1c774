// Payment routing with failover across gateways, never charging twice.
//
// The customer's payment methods are tried in order of preference ('default' before 'backup',
// the given order otherwise). The first is charged with the caller's idempotency key; every
// other method gets a key derived from it (`<key>:<gateway>`, `<key>:<gateway>-2`, ...), fixed
// by the method's place in the list, so a retried call charges each method under the same key
// again, and each gateway's idempotency makes that a replay instead of a second charge.
//
// Moving on from a method:
//   succeeded / requires_action   stop: the money was taken / the customer must act first.
//   declined                      the next method with a different token (never the same card
//                                 on another gateway); none left: the decline.
//   gateway_error, ambiguous      FIRST look the charge up on that gateway (resolveCharge when the
//                                 adapter has it, else findCharge). Found: that is the answer,
//                                 nothing else is charged. Surely none: fail over to the next
//                                 method on another gateway. Cannot tell: stop with an ambiguous
//                                 gateway_error (the caller retries later with the same key).
//   gateway_error, not ambiguous  nothing was charged: fail over.
//   circuit open                  the gateway is not called; the key is looked up (an earlier
//                                 call may have charged under it), then fail over.
// With `mayHaveBeenAttempted` (a retried activity, a recovery after a crash) every derived key
// is looked up before anything is charged, and no failover happens past a gateway that cannot
// be asked: an earlier call may have failed over and charged a backup already.
import type { Currency, Money } from '../domain/money';
import { createGatewayCircuitBreaker, type CircuitBreakerSettings, type GatewayCircuitBreaker } from './circuit-breaker';
import type { ChargeOutcome, ChargeRequest, Gateway, GatewayName, RefundOutcome, RefundRequest } from './gateway';
import { createPaymentMetrics, type CircuitState, type FailoverReason, type LookupResult, type PaymentMetrics } from './metrics';

export type PaymentMethodRole = 'default' | 'backup';

export interface PaymentMethod {
  readonly gateway: GatewayName;
  /** The gateway's token for the saved method (Stripe pm_..., PayPal vault id or B-...). */
  readonly token: string;
  readonly role: PaymentMethodRole;
  /** The customer's id at that gateway (Stripe cus_...), when it has one. */
  readonly gatewayCustomerId?: string;
}

export interface RoutedChargeRequest {
  readonly amount: Money;
  /** Stable per invoice attempt: a retried or replayed call must reuse it. */
  readonly idempotencyKey: string;
  readonly description: string;
  readonly metadata: Readonly<Record<string, string>>;
  /** The customer's saved payment methods, in order of preference. */
  readonly paymentMethods: readonly PaymentMethod[];
  /**
   * True when a call with this idempotency key may have happened before (a Temporal activity's
   * attempt > 1, a recovery). False or absent: the caller guarantees this is the first call.
   */
  readonly mayHaveBeenAttempted?: boolean;
}

export type RouteStep =
  | { readonly action: 'charge'; readonly gateway: GatewayName; readonly idempotencyKey: string; readonly outcome: ChargeOutcome }
  | { readonly action: 'circuit_open'; readonly gateway: GatewayName; readonly idempotencyKey: string }
  | {
      readonly action: 'lookup';
      readonly gateway: GatewayName;
      readonly idempotencyKey: string;
      readonly result: LookupResult;
      readonly outcome: ChargeOutcome | null;
    }
  | { readonly action: 'failover'; readonly from: GatewayName; readonly to: GatewayName; readonly reason: FailoverReason };

export interface RoutedChargeResult {
  readonly outcome: ChargeOutcome;
  /** The gateway that took the money; null unless outcome.status is 'succeeded'. */
  readonly chargedBy: GatewayName | null;
  /** The payment method the outcome is about (the one that paid, declined, or needs the customer). */
  readonly paymentMethod: PaymentMethod | null;
  /** The key under which that gateway knows the charge: the caller's, or one derived from it. */
  readonly idempotencyKey: string | null;
  /** What the router did, in order. */
  readonly steps: readonly RouteStep[];
}

export interface PaymentRouterConfig {
  readonly gateways: readonly Gateway[];
  /** Currencies a gateway may charge; a gateway not listed takes every currency. */
  readonly currencies?: Partial<Record<GatewayName, readonly Currency[]>>;
  /** Circuit breaker settings for every gateway ... */
  readonly circuitBreaker?: CircuitBreakerSettings;
  /** ... or per gateway. */
  readonly circuitBreakers?: Partial<Record<GatewayName, CircuitBreakerSettings>>;
  /** Defaults to a new registry of its own. */
  readonly metrics?: PaymentMetrics;
}

export interface PaymentRouter {
  charge(request: RoutedChargeRequest): Promise<RoutedChargeResult>;
  circuitState(gateway: GatewayName): CircuitState;
  readonly metrics: PaymentMetrics;
  /** Stops the circuit breakers' timers. */
  shutdown(): void;
}

export class PaymentRoutingError extends Error {}

/**
 * A refund goes to the gateway that took the payment and nowhere else: money must go back the
 * way it came, so there is no failover and no circuit breaker (a refund refused because the
 * gateway is down is simply retried later with the same key).
 */
export function refundThroughGateway(gateways: readonly Gateway[], gateway: GatewayName, request: RefundRequest): Promise<RefundOutcome> {
  const found = gateways.find((g) => g.name === gateway);
  if (!found) throw new PaymentRoutingError(`cannot refund through ${gateway}: the gateway is not configured`);
  if (request.idempotencyKey === '') throw new PaymentRoutingError('idempotencyKey must not be empty');
  return found.refund(request);
}

/** Payment methods in the order the router tries them, each with the key it is charged under. */
export function routeKeys(
  idempotencyKey: string,
  paymentMethods: readonly PaymentMethod[],
): { readonly method: PaymentMethod; readonly idempotencyKey: string }[] {
  const ordered = [...paymentMethods.filter((m) => m.role === 'default'), ...paymentMethods.filter((m) => m.role !== 'default')];
  const seen = new Set<string>();
  const unique = ordered.filter((method) => {
    const id = `${method.gateway}\u0000${method.token}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
  const perGateway = new Map<GatewayName, number>();
  return unique.map((method, index) => {
    if (index === 0) return { method, idempotencyKey };
    const count = (perGateway.get(method.gateway) ?? 0) + 1;
    perGateway.set(method.gateway, count);
    return { method, idempotencyKey: `${idempotencyKey}:${method.gateway}${count === 1 ? '' : `-${count}`}` };
  });
}

interface Candidate {
  readonly method: PaymentMethod;
  readonly key: string;
  readonly gateway: Gateway;
  readonly breaker: GatewayCircuitBreaker;
}

type Lookup =
  | { readonly kind: 'found'; readonly outcome: ChargeOutcome }
  | { readonly kind: 'not_found' }
  | { readonly kind: 'unknown'; readonly message: string };

export function createPaymentRouter(config: PaymentRouterConfig): PaymentRouter {
  const metrics = config.metrics ?? createPaymentMetrics();
  const gateways = new Map<GatewayName, { gateway: Gateway; breaker: GatewayCircuitBreaker }>();
  for (const gateway of config.gateways) {
    if (gateways.has(gateway.name)) throw new PaymentRoutingError(`gateway ${gateway.name} configured twice`);
    const breaker = createGatewayCircuitBreaker(gateway, config.circuitBreakers?.[gateway.name] ?? config.circuitBreaker);
    breaker.onStateChange((state) => metrics.setCircuitState(gateway.name, state));
    metrics.setCircuitState(gateway.name, breaker.state());
    gateways.set(gateway.name, { gateway, breaker });
  }

  function supports(name: GatewayName, currency: Currency): boolean {
    const currencies = config.currencies?.[name];
    return currencies === undefined || currencies.includes(currency);
  }

  function candidatesFor(request: RoutedChargeRequest): Candidate[] {
    // Keys come from the customer's list alone, before filtering, so that configuration (which
    // gateways, which currencies) can never move a method onto another key.
    return routeKeys(request.idempotencyKey, request.paymentMethods).flatMap(({ method, idempotencyKey }) => {
      const configured = gateways.get(method.gateway);
      if (!configured || !supports(method.gateway, request.amount.currency)) return [];
      return [{ method, key: idempotencyKey, ...configured }];
    });
  }

  function chargeRequestFor(candidate: Candidate, request: RoutedChargeRequest): ChargeRequest {
    return {
      amount: request.amount,
      paymentMethodToken: candidate.method.token,
      idempotencyKey: candidate.key,
      description: request.description,
      metadata: candidate.key === request.idempotencyKey ? request.metadata : { ...request.metadata, original_idempotency_key: request.idempotencyKey },
      ...(candidate.method.gatewayCustomerId ? { gatewayCustomerId: candidate.method.gatewayCustomerId } : {}),
    };
  }

  /**
   * What happened to a charge under this candidate's key. `exact` asks with the request itself
   * (resolveCharge) where the adapter offers it; otherwise findCharge by key.
   */
  async function lookUp(candidate: Candidate, request: RoutedChargeRequest, exact: boolean, steps: RouteStep[]): Promise<Lookup> {
    const started = process.hrtime.bigint();
    let lookup: Lookup;
    try {
      const { gateway } = candidate;
      const outcome =
        exact && gateway.resolveCharge
          ? await gateway.resolveCharge(chargeRequestFor(candidate, request))
          : await gateway.findCharge(candidate.key);
      if (outcome === null) lookup = { kind: 'not_found' };
      else if (outcome.status === 'gateway_error') lookup = { kind: 'unknown', message: outcome.message };
      else lookup = { kind: 'found', outcome };
    } catch (error) {
      lookup = { kind: 'unknown', message: error instanceof Error ? error.message : String(error) };
    }
    metrics.observeLatency(candidate.method.gateway, 'find_charge', Number(process.hrtime.bigint() - started) / 1e9);
    metrics.recordLookup(candidate.method.gateway, lookup.kind);
    steps.push({
      action: 'lookup',
      gateway: candidate.method.gateway,
      idempotencyKey: candidate.key,
      result: lookup.kind,
      outcome: lookup.kind === 'found' ? lookup.outcome : null,
    });
    return lookup;
  }

  function finished(candidate: Candidate, outcome: ChargeOutcome, steps: RouteStep[]): RoutedChargeResult {
    return {
      outcome,
      chargedBy: outcome.status === 'succeeded' ? outcome.gateway : null,
      paymentMethod: candidate.method,
      idempotencyKey: candidate.key,
      steps,
    };
  }

  function unresolved(candidate: Candidate, message: string, steps: RouteStep[]): RoutedChargeResult {
    const outcome: ChargeOutcome = {
      status: 'gateway_error',
      gateway: candidate.method.gateway,
      ambiguous: true,
      message: `${message}; not failing over: ${candidate.method.gateway} may have charged under ${candidate.key}`,
    };
    return { outcome, chargedBy: null, paymentMethod: candidate.method, idempotencyKey: candidate.key, steps };
  }

  async function charge(request: RoutedChargeRequest): Promise<RoutedChargeResult> {
    if (request.idempotencyKey === '') throw new PaymentRoutingError('idempotencyKey must not be empty');
    if (!Number.isSafeInteger(request.amount.amount) || request.amount.amount <= 0) {
      throw new PaymentRoutingError(`amount must be a positive integer of minor units, got ${request.amount.amount}`);
    }
    const candidates = candidatesFor(request);
    if (candidates.length === 0) {
      throw new PaymentRoutingError(`no payment method of this customer can be charged in ${request.amount.currency} by a configured gateway`);
    }
    const steps: RouteStep[] = [];

    if (request.mayHaveBeenAttempted) {
      // An earlier call may have failed over and charged a backup; charging the first method now
      // would charge twice. (The first method itself is safe: its charge replays.)
      for (const candidate of candidates.slice(1)) {
        const lookup = await lookUp(candidate, request, true, steps);
        if (lookup.kind === 'unknown') return unresolved(candidate, `could not look up an earlier charge (${lookup.message})`, steps);
        if (lookup.kind === 'found' && lookup.outcome.status !== 'declined') return finished(candidate, lookup.outcome, steps);
      }
    }

    const failedGateways = new Set<GatewayName>();
    let lastDecline: { candidate: Candidate; outcome: ChargeOutcome } | null = null;
    let lastFailure: { candidate: Candidate; outcome: ChargeOutcome } | null = null;
    let leaving: { from: GatewayName; reason: FailoverReason } | null = null;

    const moveOn = (candidate: Candidate, reason: FailoverReason, outcome: ChargeOutcome): void => {
      if (reason === 'declined') lastDecline = { candidate, outcome };
      else {
        failedGateways.add(candidate.method.gateway);
        lastFailure = { candidate, outcome };
      }
      leaving = { from: candidate.method.gateway, reason };
    };

    for (const candidate of candidates) {
      const gatewayName = candidate.method.gateway;
      if (failedGateways.has(gatewayName)) continue;
      if (leaving !== null) {
        const { from, reason } = leaving as { from: GatewayName; reason: FailoverReason };
        metrics.recordFailover(from, gatewayName, reason);
        steps.push({ action: 'failover', from, to: gatewayName, reason });
        leaving = null;
      }

      const guarded = await candidate.breaker.charge(chargeRequestFor(candidate, request));
      if (guarded.kind === 'rejected') {
        metrics.recordAttempt(gatewayName, 'circuit_open');
        steps.push({ action: 'circuit_open', gateway: gatewayName, idempotencyKey: candidate.key });
        // Nothing was sent now, but an earlier call may have charged under this key.
        const lookup = await lookUp(candidate, request, request.mayHaveBeenAttempted === true, steps);
        if (lookup.kind === 'found') {
          if (lookup.outcome.status !== 'declined') return finished(candidate, lookup.outcome, steps);
          moveOn(candidate, 'declined', lookup.outcome);
          continue;
        }
        if (lookup.kind === 'unknown' && request.mayHaveBeenAttempted) {
          return unresolved(candidate, `circuit open and the charge cannot be looked up (${lookup.message})`, steps);
        }
        moveOn(candidate, 'circuit_open', {
          status: 'gateway_error',
          gateway: gatewayName,
          ambiguous: false,
          message: `${gatewayName} circuit is open`,
        });
        continue;
      }

      const { outcome } = guarded;
      metrics.recordAttempt(gatewayName, outcome);
      metrics.observeLatency(gatewayName, 'charge', guarded.seconds);
      steps.push({ action: 'charge', gateway: gatewayName, idempotencyKey: candidate.key, outcome });
      if (outcome.status === 'succeeded' || outcome.status === 'requires_action') return finished(candidate, outcome, steps);
      if (outcome.status === 'declined') {
        moveOn(candidate, 'declined', outcome);
        continue;
      }
      // gateway_error
      if (outcome.ambiguous || request.mayHaveBeenAttempted) {
        const lookup = await lookUp(candidate, request, true, steps);
        if (lookup.kind === 'unknown') return unresolved(candidate, outcome.message, steps);
        if (lookup.kind === 'found') {
          if (lookup.outcome.status !== 'declined') return finished(candidate, lookup.outcome, steps);
          moveOn(candidate, 'declined', lookup.outcome);
          continue;
        }
      }
      // Surely not charged.
      moveOn(candidate, 'gateway_error', { ...outcome, ambiguous: false });
    }

    // Every method was tried. A gateway failure is worth a retry soon (its method is untried);
    // otherwise the decline stands.
    const failure = lastFailure as { candidate: Candidate; outcome: ChargeOutcome } | null;
    const decline = lastDecline as { candidate: Candidate; outcome: ChargeOutcome } | null;
    const last = failure ?? decline;
    if (last === null) throw new PaymentRoutingError('no payment method was tried');
    return { ...finished(last.candidate, last.outcome, steps), chargedBy: null };
  }

  return {
    charge,
    circuitState(gateway) {
      const configured = gateways.get(gateway);
      if (!configured) throw new PaymentRoutingError(`gateway ${gateway} is not configured`);
      return configured.breaker.state();
    },
    metrics,
    shutdown() {
      for (const { breaker } of gateways.values()) breaker.shutdown();
    },
  };
}
