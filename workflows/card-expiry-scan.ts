// The daily scan that queues card-expiring notices (30 days before a saved card stops working),
// run by a Temporal Schedule: one scan a day for the whole deployment, visible in the Web UI,
// however many workers run. The scan itself is idempotent (one notice key per card and expiry).
import { proxyActivities } from '@temporalio/workflow';
import type { NotificationActivities } from '../activities/notifications';
import { RECORD_ACTIVITY } from './activity-options';

const { scheduleCardExpiryNotices } = proxyActivities<NotificationActivities>(RECORD_ACTIVITY);

export async function cardExpiryScanWorkflow(): Promise<{ enqueued: number }> {
  // The workflow clock: the instant the schedule fired, the same on replay.
  return scheduleCardExpiryNotices({ now: new Date().toISOString() });
}
