// Schedules the deployment needs, created once by whichever worker starts first (a second
// create finds the schedule there and leaves it alone).
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';

export const CARD_EXPIRY_SCHEDULE_ID = 'card-expiry-scan';

/**
 * The daily card-expiry scan; true when this call created it. An existing schedule is pointed at
 * `taskQueue` if it names another (workers moved to a new queue), and otherwise left alone.
 */
export async function ensureCardExpirySchedule(client: Client, taskQueue: string, scheduleId = CARD_EXPIRY_SCHEDULE_ID): Promise<boolean> {
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: '1 day' }] },
      // A scan still running when the next is due makes the next one pointless.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 day' },
      action: {
        type: 'startWorkflow',
        workflowType: 'cardExpiryScanWorkflow',
        workflowId: `${scheduleId}-run`,
        taskQueue,
        args: [],
      },
      // The first scan now, not a day after the first deployment.
      state: { triggerImmediately: true, note: 'queues card-expiring notices 30 days before saved cards expire' },
    });
    return true;
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
    const handle = client.schedule.getHandle(scheduleId);
    const { action } = await handle.describe();
    if (action.type === 'startWorkflow' && action.taskQueue !== taskQueue) {
      await handle.update((previous) => ({ ...previous, action: { ...previous.action, taskQueue } }));
    }
    return false;
  }
}
