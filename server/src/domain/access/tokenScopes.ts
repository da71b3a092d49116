/** What a service token may be granted; a procedure names the scope it needs in its meta. */
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
