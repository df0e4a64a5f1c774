// One circuit breaker per gateway (opossum), around charge calls only. A gateway_error outcome
// counts as a failure; declines, successes and requires_action are the gateway working. While the
// circuit is open, charges are refused without calling the gateway; after resetTimeout one trial
// call goes through (half-open): success closes the circuit, failure opens it again.
//
// opossum's own timeout is switched off on purpose. It would reject the caller while the
// gateway request is still in flight, and a router that then looked the charge up and failed
// over could race the late charge into a double charge. The adapters' HTTP timeouts (which
// end the request) bound the latency instead, and their ambiguous outcome is resolved first.
import CircuitBreaker from 'opossum';
import type { ChargeOutcome, ChargeRequest, Gateway, GatewayName } from './gateway';
import type { CircuitState } from './metrics';

export type { CircuitState } from './metrics';

export interface CircuitBreakerSettings {
  /** Failure percentage within the rolling window above which the circuit opens. Default 50. */
  readonly errorThresholdPercentage?: number;
  /** Calls within the rolling window before the percentage is considered at all. Default 5. */
  readonly volumeThreshold?: number;
  /** Milliseconds the circuit stays open before one trial call (half-open). Default 30 000. */
  readonly resetTimeout?: number;
  /** Length of the rolling window in milliseconds. Default 10 000. */
  readonly rollingCountTimeout?: number;
  /** Buckets of the rolling window. Default 10. */
  readonly rollingCountBuckets?: number;
}

export type GuardedCharge =
  | { readonly kind: 'answered'; readonly outcome: ChargeOutcome; readonly seconds: number }
  | { readonly kind: 'rejected' };

export interface GatewayCircuitBreaker {
  readonly gateway: GatewayName;
  /** Charges through the circuit; 'rejected' when the circuit refused without calling the gateway. */
  charge(request: ChargeRequest): Promise<GuardedCharge>;
  state(): CircuitState;
  /** True when a charge now would be refused without calling the gateway. */
  rejectsCalls(): boolean;
  onStateChange(listener: (state: CircuitState) => void): void;
  /** Stops the breaker's timers. */
  shutdown(): void;
}

/** Carries a gateway_error through opossum, which counts rejections as failures. */
class GatewayFailure extends Error {
  constructor(readonly outcome: ChargeOutcome, readonly seconds: number) {
    super(outcome.status === 'gateway_error' ? outcome.message : outcome.status);
  }
}

export function createGatewayCircuitBreaker(gateway: Gateway, settings: CircuitBreakerSettings = {}): GatewayCircuitBreaker {
  const breaker = new CircuitBreaker(
    async (request: ChargeRequest): Promise<{ outcome: ChargeOutcome; seconds: number }> => {
      const started = process.hrtime.bigint();
      const outcome = await gateway.charge(request);
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      if (outcome.status === 'gateway_error') throw new GatewayFailure(outcome, seconds);
      return { outcome, seconds };
    },
    {
      name: `${gateway.name}-charge`,
      timeout: false,
      errorThresholdPercentage: settings.errorThresholdPercentage ?? 50,
      volumeThreshold: settings.volumeThreshold ?? 5,
      resetTimeout: settings.resetTimeout ?? 30_000,
      rollingCountTimeout: settings.rollingCountTimeout ?? 10_000,
      rollingCountBuckets: settings.rollingCountBuckets ?? 10,
      // An exception from an adapter is a fault in our code or configuration (bad request, bad
      // credentials), not the gateway being unhealthy: it is rethrown and not counted.
      errorFilter: (error: unknown) => !(error instanceof GatewayFailure),
    },
  );

  const listeners: ((state: CircuitState) => void)[] = [];
  const emit = (state: CircuitState) => () => listeners.forEach((listener) => listener(state));
  breaker.on('open', emit('open'));
  breaker.on('halfOpen', emit('half_open'));
  breaker.on('close', emit('closed'));

  function state(): CircuitState {
    if (breaker.opened) return 'open';
    if (breaker.halfOpen) return 'half_open';
    return 'closed';
  }

  return {
    gateway: gateway.name,
    async charge(request) {
      try {
        const { outcome, seconds } = await breaker.fire(request);
        return { kind: 'answered', outcome, seconds };
      } catch (error) {
        if (error instanceof GatewayFailure) return { kind: 'answered', outcome: error.outcome, seconds: error.seconds };
        if (CircuitBreaker.isOurError(error as Error) && (error as { code?: string }).code === 'EOPENBREAKER') return { kind: 'rejected' };
        throw error;
      }
    },
    state,
    // Half-open lets exactly one trial through; calls during the trial are refused.
    rejectsCalls: () => breaker.opened || (breaker.halfOpen && !breaker.pendingClose),
    onStateChange(listener) {
      listeners.push(listener);
    },
    shutdown() {
      breaker.shutdown();
    },
  };
}
