// Moving the time-skipping test server's clock safely. The server keeps skipping while an
// activity runs, so an activity still in flight when the clock jumps sees its timeouts fire;
// every test therefore moves time only once the workflows it drives are idle on a timer.
import type { WorkflowHandle } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { waitFor } from './environment';

export async function untilIdle(handle: WorkflowHandle): Promise<void> {
  await waitFor(async () => {
    const { raw } = await handle.describe();
    return (raw.pendingActivities?.length ?? 0) === 0 && !raw.pendingWorkflowTask;
  }, `${handle.workflowId} to be idle`);
}

/** Moves the clock forward to `instant` (never back), once the given workflows are idle. */
export async function skipTo(env: TestWorkflowEnvironment, instant: string, idle: readonly WorkflowHandle[] = []): Promise<void> {
  for (const handle of idle) await untilIdle(handle);
  const ms = Date.parse(instant) - (await env.currentTimeMs());
  if (ms > 0) await env.sleep(ms);
}
