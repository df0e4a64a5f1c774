// Idempotency-Key: the first request with a key decides which resource it creates; a repeat
// with the same body gets that resource back, a repeat with another body is refused.
import { createHash } from 'node:crypto';
import type { Request } from 'express';
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { ApiError, invalidField } from './errors';
import type { Principal } from './auth';

export function idempotencyKeyOf(req: Request): string | null {
  const key = req.header('idempotency-key');
  if (key === undefined) return null;
  if (!/^[\x20-\x7e]{1,255}$/.test(key)) throw invalidField('Idempotency-Key', 'must be 1-255 printable ASCII characters');
  return key;
}

function requestHash(body: unknown): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex');
}

const claimRow = z.object({ resource_id: z.string(), request_hash: z.string(), resource_type: z.string() });

/**
 * Claims `key` for a new resource id, or returns the id an earlier request with the same key
 * and body created (replay: true).
 */
export async function claimIdempotencyKey(
  db: CommonQueryMethods,
  args: { principal: Principal; key: string; body: unknown; resourceType: string; newResourceId: string },
): Promise<{ resourceId: string; replay: boolean }> {
  const hash = requestHash(args.body);
  const inserted = await db.maybeOne(sql.unsafe`
    INSERT INTO api_idempotency_keys (api_key_id, key, request_hash, resource_type, resource_id)
    VALUES (${args.principal.apiKeyId}, ${args.key}, ${hash}, ${args.resourceType}, ${args.newResourceId})
    ON CONFLICT (api_key_id, key) DO NOTHING RETURNING resource_id`);
  if (inserted) return { resourceId: args.newResourceId, replay: false };
  const existing = await db.one(sql.type(claimRow)`
    SELECT resource_id, request_hash, resource_type FROM api_idempotency_keys
    WHERE api_key_id = ${args.principal.apiKeyId} AND key = ${args.key}`);
  if (existing.request_hash !== hash || existing.resource_type !== args.resourceType) {
    throw new ApiError(422, 'idempotency_key_reused', 'Idempotency-Key was already used with a different request', 'Idempotency-Key');
  }
  return { resourceId: existing.resource_id, replay: true };
}
