// RECORD_HISTORIES=1 npm test -- <workflow test file> writes a run's history to
// test/workflow/histories/, where replay.test.ts replays it against every later version of the
// workflow code: a change that breaks running workflows fails there.
import type { WorkflowHandle } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { requiredEnv } from './environment';

const HISTORIES = resolve(__dirname, '../workflow/histories');

export function recordHistoryIfAsked(name: string, handle: WorkflowHandle, serverAddress: string): void {
  if (process.env.RECORD_HISTORIES !== '1') return;
  // The Temporal CLI writes the same JSON the Web UI downloads and runReplayHistory reads.
  const json = execFileSync(requiredEnv('TEMPORAL_CLI'), [
    'workflow', 'show', '--workflow-id', handle.workflowId, '--address', serverAddress, '--output', 'json',
  ]);
  writeFileSync(join(HISTORIES, `${name}.json`), json);
}
