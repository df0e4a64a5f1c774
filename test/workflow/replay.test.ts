// Replays recorded histories of real subscription and course-order runs against the current workflow code,
// through the ops replay tool (scripts/replay.ts) in its own process. A change that would make
// running subscriptions diverge (a reordered activity, a removed timer) fails here; such changes
// must go through patched(). Record new histories with RECORD_HISTORIES=1 (subscription.test.ts,
// course-purchase.test.ts; see test/support/record-history.ts). An order recorded before installment
// dunning (course-installment-fixed-schedule-before-dunning) proves old orders keep their schedule.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../..');
const dir = join(__dirname, 'histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => join(dir, f));

function replay(paths: string[]) {
  return spawnSync(process.execPath, ['-r', '@swc-node/register', 'scripts/replay.ts', ...paths], { cwd: ROOT, encoding: 'utf8' });
}

describe('replay of recorded workflow histories', () => {
  it('replays every recorded history without nondeterminism', () => {
    expect(files.length).toBeGreaterThan(0);
    const run = replay(files);
    expect(run.stdout).toContain(`replay: ${files.length} passed, 0 failed`);
    expect(run.status).toBe(0);
  });

  it('catches a history the code cannot reproduce', () => {
    // The same history with its first activity renamed: what an incompatible deploy looks like.
    const history = JSON.parse(readFileSync(files[0]!, 'utf8'));
    const scheduled = history.events.find((e: any) => e.activityTaskScheduledEventAttributes);
    scheduled.activityTaskScheduledEventAttributes.activityType.name = 'someOtherActivity';
    const tampered = join(tmpdir(), `tampered-${process.pid}.json`);
    writeFileSync(tampered, JSON.stringify(history));
    const run = replay([tampered]);
    expect(run.stdout).toContain('replay: 0 passed, 1 failed');
    expect(run.status).toBe(1);
  });
});
