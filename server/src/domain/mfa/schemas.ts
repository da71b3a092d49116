import { z } from 'zod';
import { idSchema } from '../../lib/schemas';

/** A code from an authenticator app: 6 digits (spaces, as some apps show `123 456`, are dropped). */
const totpCode = z
  .string()
  .transform((v) => v.replace(/\s/g, ''))
  .pipe(z.string().regex(/^\d{6}$/, 'must be the 6-digit code of your authenticator app'));

/** A TOTP code or a recovery code (`xxxx-xxxx-xxxx-xxxx`). */
const anyCode = z
  .string()
  .trim()
  .min(1, 'is required')
  .max(64, 'must be a 6-digit code or a recovery code')
  .regex(/^[A-Za-z0-9 -]+$/, 'must be a 6-digit code or a recovery code');

/** `auth.mfa.enroll` input: the account's current password. */
export const enrollInput = z.object({ password: z.string().min(1, 'is required').max(256) }).strict();

/** `auth.mfa.confirm` input: the current code of the authenticator app just enrolled. */
export const confirmInput = z.object({ code: totpCode }).strict();

/** `auth.mfa.disable` input: a current code, or an unused recovery code. */
export const disableInput = z.object({ code: anyCode }).strict();

/** `auth.loginMfa` input: the challenge `auth.login` answered, and a code or a recovery code. */
export const loginMfaInput = z
  .object({
    challenge: z
      .string()
      .trim()
      .regex(/^[0-9a-f]{64}$/i, 'must be the challenge that auth.login answered'),
    code: anyCode,
  })
  .strict();

/** `users.resetMfa` input. */
export const resetMfaInput = z.object({ userId: idSchema }).strict();

/** What `auth.mfa.enroll` works with. */
export type EnrollInput = z.output<typeof enrollInput>;
/** What `auth.mfa.confirm` works with. */
export type ConfirmInput = z.output<typeof confirmInput>;
/** What `auth.mfa.disable` works with. */
export type DisableInput = z.output<typeof disableInput>;
/** What `auth.loginMfa` works with. */
export type LoginMfaInput = z.output<typeof loginMfaInput>;
/** What `users.resetMfa` works with. */
export type ResetMfaInput = z.output<typeof resetMfaInput>;
