// Timeouts and retries shared by every billing workflow, so a change to how hard we retry the
// database or a gateway is made once.
import type { ActivityOptions } from '@temporalio/workflow';

/** Database writes and other quick, idempotent side effects: retried until they succeed. */
export const RECORD_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
};

/**
 * A charge may wait on a slow gateway; it is retried with the same idempotency key. Heartbeats
 * let a dead worker be noticed within seconds; after the last attempt the workflow treats the
 * charge as failed and the dunning schedule decides what follows.
 */
export const CHARGE_ACTIVITY: ActivityOptions = {
  startToCloseTimeout: '45 seconds',
  heartbeatTimeout: '5 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '2 minutes', maximumAttempts: 12 },
};
