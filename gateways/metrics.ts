// Prometheus metrics of payment routing (prom-client). One Registry per router, so tests and
// several routers in one process never share counters; the worker exposes `registry.metrics()`.
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { ChargeOutcome, GatewayName } from './gateway';

export type CircuitState = 'closed' | 'half_open' | 'open';
export type FailoverReason = 'gateway_error' | 'circuit_open' | 'declined';
export type LookupResult = 'found' | 'not_found' | 'unknown';
export type GatewayOperation = 'charge' | 'find_charge';

/** Gauge values of billing_gateway_circuit_state. */
export const CIRCUIT_STATE_VALUES: Readonly<Record<CircuitState, number>> = { closed: 0, half_open: 1, open: 2 };

export interface PaymentMetrics {
  readonly registry: Registry;
  /** A charge sent to a gateway, or refused by its open circuit. */
  recordAttempt(gateway: GatewayName, outcome: ChargeOutcome | 'circuit_open'): void;
  recordLookup(gateway: GatewayName, result: LookupResult): void;
  recordFailover(from: GatewayName, to: GatewayName, reason: FailoverReason): void;
  setCircuitState(gateway: GatewayName, state: CircuitState): void;
  observeLatency(gateway: GatewayName, operation: GatewayOperation, seconds: number): void;
  /** The registry in Prometheus' text format. */
  text(): Promise<string>;
}

export function createPaymentMetrics(registry: Registry = new Registry()): PaymentMetrics {
  const registers = [registry];
  const attempts = new Counter({
    name: 'billing_payment_attempts_total',
    help: 'Charges sent to a gateway (or refused by its open circuit), by outcome.',
    labelNames: ['gateway', 'outcome'] as const,
    registers,
  });
  const successes = new Counter({
    name: 'billing_payment_successes_total',
    help: 'Charges that took the money, by gateway.',
    labelNames: ['gateway'] as const,
    registers,
  });
  const declines = new Counter({
    name: 'billing_payment_declines_total',
    help: 'Declined charges, by gateway and normalized decline code.',
    labelNames: ['gateway', 'decline_code'] as const,
    registers,
  });
  const gatewayErrors = new Counter({
    name: 'billing_payment_gateway_errors_total',
    help: 'Charges that failed at the gateway; ambiguous="true" when the gateway may have charged.',
    labelNames: ['gateway', 'ambiguous'] as const,
    registers,
  });
  const failovers = new Counter({
    name: 'billing_payment_failovers_total',
    help: 'Moves from one payment method to the next, by gateways and reason.',
    labelNames: ['from', 'to', 'reason'] as const,
    registers,
  });
  const lookups = new Counter({
    name: 'billing_payment_lookups_total',
    help: 'Look-ups of a possibly made charge (findCharge / resolveCharge), by result.',
    labelNames: ['gateway', 'result'] as const,
    registers,
  });
  const circuitState = new Gauge({
    name: 'billing_gateway_circuit_state',
    help: 'Circuit breaker state per gateway: 0 closed, 1 half-open, 2 open.',
    labelNames: ['gateway'] as const,
    registers,
  });
  const latency = new Histogram({
    name: 'billing_gateway_request_duration_seconds',
    help: 'Time a gateway took to answer, by operation.',
    labelNames: ['gateway', 'operation'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20],
    registers,
  });

  return {
    registry,
    recordAttempt(gateway, outcome) {
      if (outcome === 'circuit_open') {
        attempts.inc({ gateway, outcome: 'circuit_open' });
        return;
      }
      attempts.inc({ gateway, outcome: outcome.status });
      if (outcome.status === 'succeeded') successes.inc({ gateway });
      if (outcome.status === 'declined') declines.inc({ gateway, decline_code: outcome.declineCode });
      if (outcome.status === 'gateway_error') gatewayErrors.inc({ gateway, ambiguous: String(outcome.ambiguous) });
    },
    recordLookup(gateway, result) {
      lookups.inc({ gateway, result });
    },
    recordFailover(from, to, reason) {
      failovers.inc({ from, to, reason });
    },
    setCircuitState(gateway, state) {
      circuitState.set({ gateway }, CIRCUIT_STATE_VALUES[state]);
    },
    observeLatency(gateway, operation, seconds) {
      latency.observe({ gateway, operation }, seconds);
    },
    text: () => registry.metrics(),
  };
}
