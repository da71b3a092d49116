import { createHash, randomBytes } from 'node:crypto';

/** SHA-256 hex digest: how session and service tokens are stored. */
export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

/** A session token: 256 random bits, hex (so it never contains the service-token prefix's `_`). */
export function newSessionToken(): string {
  return randomBytes(32).toString('hex');
}

/** Service tokens start with this, so a bearer token says which kind it is. */
export const SERVICE_TOKEN_PREFIX = 'hdms_svc_';

/** A service token: the prefix and 256 random bits, base64url. */
export function newServiceToken(): string {
  return SERVICE_TOKEN_PREFIX + randomBytes(32).toString('base64url');
}
