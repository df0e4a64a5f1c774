// Ops replay: runs recorded or live workflow histories through the current workflow code and
// reports any nondeterminism before a deploy does.
//   npm run replay -- FILE.json [FILE.json ...]          histories downloaded from the Web UI / CLI
//   npm run replay -- --query 'ExecutionStatus="Running"' every matching workflow on TEMPORAL_ADDRESS
// Exits 1 when any history fails to replay.
import { Client, Connection } from '@temporalio/client';
import { Worker, type ReplayResult } from '@temporalio/worker';
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { WORKFLOWS_PATH } from '../workers/billing-worker';

async function* fileHistories(files: string[]) {
  for (const file of files) yield { workflowId: basename(file), history: JSON.parse(readFileSync(file, 'utf8')) };
}

async function main(args: string[]): Promise<number> {
  const queryAt = args.indexOf('--query');
  let connection: Connection | undefined;
  let histories: AsyncIterable<{ workflowId: string; history: unknown }>;
  if (queryAt >= 0) {
    const query = args[queryAt + 1];
    if (!query) throw new Error('--query needs a visibility query');
    connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
    const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    histories = client.workflow.list({ query }).intoHistories();
  } else {
    if (args.length === 0) throw new Error('usage: replay FILE.json ... | --query QUERY');
    histories = fileHistories(args);
  }
  let replayed = 0;
  let failed = 0;
  const results: AsyncIterable<ReplayResult> = Worker.runReplayHistories(
    { workflowsPath: WORKFLOWS_PATH, bundlerOptions: { ignoreModules: [] } },
    histories as never,
  );
  for await (const result of results) {
    replayed += 1;
    if (result.error) {
      failed += 1;
      console.log(`FAIL ${result.workflowId}: ${result.error.message}`);
    } else {
      console.log(`ok   ${result.workflowId}`);
    }
  }
  await connection?.close();
  console.log(`replay: ${replayed - failed} passed, ${failed} failed`);
  return failed > 0 || replayed === 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(2);
  },
);
