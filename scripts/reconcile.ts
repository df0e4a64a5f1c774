// Proves the books: debits = credits per currency, every entry balanced, and each invoice's
// receivable equal to what is still owed on it. Prints a report; exits 1 on any mismatch.
//
//   DATABASE_URL=postgres://... node -r @swc-node/register scripts/reconcile.ts [--schema NAME] [--json]
import { createDatabasePool } from '../db/pool';
import { formatReconcileReport, reconcileLedgerSnapshot } from '../db/reconcile';

async function main(argv: readonly string[]): Promise<number> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    console.error('DATABASE_URL is not set');
    return 2;
  }
  let schema: string | undefined;
  let json = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--schema' && argv[i + 1]) schema = argv[++i];
    else if (arg === '--json') json = true;
    else {
      console.error(`usage: reconcile [--schema NAME] [--json]; unknown argument ${arg}`);
      return 2;
    }
  }
  const pool = await createDatabasePool(url, { maximumPoolSize: 1 });
  try {
    const report = await reconcileLedgerSnapshot(pool, schema ? { schema } : {});
    console.log(json ? JSON.stringify(report, null, 2) : formatReconcileReport(report));
    return report.ok ? 0 : 1;
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(error);
    process.exitCode = 2;
  },
);
