// Creates an API key and prints it once: `npm run api-key -- create --name NAME [--scopes a,b]`.
// Only the hash is stored, so a lost key is replaced, never recovered.
import { createApiKey, SCOPES, type Scope } from '../api/auth';
import { loadEnv } from '../config/env';
import { createDatabasePool } from '../db/pool';

function usage(message?: string): never {
  if (message) console.error(message);
  console.error(`usage: npm run api-key -- create --name NAME [--scopes ${SCOPES.join(',')}]`);
  process.exit(2);
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command !== 'create') usage();
  const options: Record<string, string> = {};
  for (let i = 0; i < rest.length; i += 2) {
    const flag = rest[i];
    const value = rest[i + 1];
    if (!flag?.startsWith('--') || value === undefined) usage(`unexpected argument ${flag ?? ''}`);
    options[flag.slice(2)] = value;
  }
  const name = options.name ?? usage('--name is required');
  const scopes = (options.scopes ? options.scopes.split(',') : [...SCOPES]).map((s) => s.trim());
  const unknown = scopes.filter((s) => !(SCOPES as readonly string[]).includes(s));
  if (unknown.length > 0) usage(`unknown scope(s): ${unknown.join(', ')}`);
  const pool = await createDatabasePool(loadEnv().DATABASE_URL, { maximumPoolSize: 1 });
  try {
    const { key } = await createApiKey(pool, name, scopes as Scope[]);
    process.stdout.write(`${key}\n`);
  } finally {
    await pool.end();
  }
}

main(process.argv.slice(2)).catch((error) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
