/**
 * What a service token may be granted. A procedure names the scope a service needs in its meta;
 * a procedure without one is closed to services.
 */
export const SCOPES = [
  'doctors:read',
  'doctors:write',
  'patients:read',
  'patients:write',
  'checkHistory:read',
  'checkHistory:write',
  'audit:read',
] as const;

/** One service-token scope. */
export type Scope = (typeof SCOPES)[number];
