// One slonik pool per process. Type parsers return what the domain uses: int8 as a (safe)
// number of minor units, timestamptz as an ISO 8601 string in UTC.
import { createPool, type DatabasePool } from 'slonik';

function parseSafeBigint(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) throw new RangeError(`int8 ${value} exceeds the safe integer range`);
  return parsed;
}

export async function createDatabasePool(connectionUri: string, options: { maximumPoolSize?: number } = {}): Promise<DatabasePool> {
  const pool = await createPool(connectionUri, {
    maximumPoolSize: options.maximumPoolSize ?? 10,
    typeParsers: [
      { name: 'int8', parse: parseSafeBigint },
      { name: 'timestamptz', parse: (value) => new Date(value).toISOString() },
      { name: 'timestamp', parse: (value) => new Date(`${value}Z`).toISOString() },
      { name: 'date', parse: (value) => value },
      { name: 'numeric', parse: (value) => value },
    ],
  });
  // slonik also emits every failed query's error on the pool before the query rejects with it.
  // Without a listener that emit throws in its place (under jest as a different error type), so
  // callers could not recognise an expected error such as a constraint the database names.
  pool.on('error', () => {});
  return pool;
}

export type { DatabasePool };
