import { randomBytes } from 'node:crypto';

/** Prefixed random ids ("cus_...", "sub_...") that say what they identify. */
export function newId(prefix: 'cus' | 'sub'): string {
  const alphabet = '0123456789abcdefghijklmnopqrstuvwxyz';
  const bytes = randomBytes(20);
  let id = '';
  for (const byte of bytes) id += alphabet[byte % 36];
  return `${prefix}_${id}`;
}
