import { randomBytes } from 'node:crypto';

const BASE36 = '0123456789abcdefghijklmnopqrstuvwxyz';

/** `length` random base-36 characters (lowercase letters and digits). */
export function randomBase36(length = 20): string {
  let id = '';
  for (const byte of randomBytes(length)) id += BASE36[byte % 36];
  return id;
}

/** Prefixed random ids ("cus_...", "sub_...", "ord_...", "cn_...") that say what they identify. */
export function newId(prefix: 'cus' | 'sub' | 'ord' | 'cn', length = 20): string {
  return `${prefix}_${randomBase36(length)}`;
}
