// The fixed retry schedule (days after the first failure). The workflow's first dunning used it
// directly; domain/dunning.ts now decides every step (decline classes, budget, end action) and
// uses this schedule for the 'fixed' strategy and as the smart strategy's fallback when no model
// decision is available. Kept with the same behaviour for callers that still use it.
import { addDays } from './calendar';

export const FIXED_RETRY_DAYS: readonly number[] = [1, 3, 5, 7];

/** Instant of the next retry after `failedAttempts` failures, or null when recovery gives up. */
export function nextRetryAt(firstFailureAt: string, failedAttempts: number, schedule: readonly number[] = FIXED_RETRY_DAYS): string | null {
  const day = schedule[failedAttempts - 1];
  return day === undefined ? null : addDays(firstFailureAt, day);
}
