// When to retry a failed payment. This first policy is a fixed schedule (days after the first
// failure); the dunning issue replaces it with a learned one behind the same shape.
import { addDays } from './calendar';

export const FIXED_RETRY_DAYS: readonly number[] = [1, 3, 5, 7];

/** Instant of the next retry after `failedAttempts` failures, or null when recovery gives up. */
export function nextRetryAt(firstFailureAt: string, failedAttempts: number, schedule: readonly number[] = FIXED_RETRY_DAYS): string | null {
  const day = schedule[failedAttempts - 1];
  return day === undefined ? null : addDays(firstFailureAt, day);
}
