// API keys: "dbk_<id>_<secret>". Only a SHA-256 of the secret is stored; the secret is shown
// once, when the key is created.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { RequestHandler } from 'express';
import { sql, type CommonQueryMethods } from 'slonik';
import { z } from 'zod';
import { ApiError } from './errors';

export const SCOPES = [
  'customers:read',
  'customers:write',
  'subscriptions:read',
  'subscriptions:write',
  'invoices:read',
  'invoices:write',
] as const;
export type Scope = (typeof SCOPES)[number];

const KEY_PATTERN = /^dbk_([a-z0-9]{12})_([A-Za-z0-9_-]{32,})$/;

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

export async function createApiKey(db: CommonQueryMethods, name: string, scopes: readonly Scope[]): Promise<{ id: string; key: string }> {
  const id = randomBytes(9).toString('base64url').toLowerCase().replace(/[^a-z0-9]/g, '0').slice(0, 12);
  const secret = randomBytes(32).toString('base64url');
  await db.query(sql.unsafe`
    INSERT INTO api_keys (id, name, secret_hash, scopes)
    VALUES (${id}, ${name}, ${hashSecret(secret)}, ${sql.array([...scopes], 'text')})`);
  return { id, key: `dbk_${id}_${secret}` };
}

const keyRow = z.object({ id: z.string(), secret_hash: z.string(), scopes: z.array(z.string()) });

export interface Principal {
  readonly apiKeyId: string;
  readonly scopes: readonly string[];
}

export async function authenticate(db: CommonQueryMethods, header: string | undefined): Promise<Principal | null> {
  const match = /^Bearer (.+)$/.exec(header ?? '');
  const parts = match ? KEY_PATTERN.exec(match[1]!) : null;
  if (!parts) return null;
  const [, id, secret] = parts;
  const row = await db.maybeOne(sql.type(keyRow)`
    SELECT id, secret_hash, scopes FROM api_keys WHERE id = ${id!} AND revoked_at IS NULL`);
  if (!row) return null;
  const expected = Buffer.from(row.secret_hash, 'hex');
  const actual = Buffer.from(hashSecret(secret!), 'hex');
  if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
  return { apiKeyId: row.id, scopes: row.scopes };
}

export function authenticated(db: CommonQueryMethods): RequestHandler {
  return (req, res, next) => {
    authenticate(db, req.header('authorization'))
      .then((principal) => {
        if (!principal) throw new ApiError(401, 'unauthenticated', 'a valid API key is required (Authorization: Bearer dbk_...)');
        res.locals.principal = principal;
        next();
      })
      .catch(next);
  };
}

export function requireScope(scope: Scope): RequestHandler {
  return (_req, res, next) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal?.scopes.includes(scope)) {
      next(new ApiError(403, 'forbidden', `this API key lacks the '${scope}' scope`));
      return;
    }
    next();
  };
}
