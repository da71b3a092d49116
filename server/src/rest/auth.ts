import { ROLES } from '@hdms/db';
import { z } from 'zod';
import { loginMfaInput } from '../domain/mfa/schemas';
import type { SignedIn } from '../domain/users/account';
import { loginInput, registerInput } from '../domain/users/schemas';
import { instant, type RestRoute, restRoute } from './route';
import { callerFor, parseBody, pick, readJson, restView } from './util';

const accountSchema = z.object({
  id: z.number().int(),
  username: z.string(),
  email: z.string(),
  role: z.enum(ROLES),
});
const signedInSchema = accountSchema.extend({
  doctorId: z
    .number()
    .int()
    .nullable()
    .openapi({ description: 'The Doctor record a doctor account is linked to' }),
  patientId: z
    .number()
    .int()
    .nullable()
    .openapi({ description: 'The Patient record a patient account is linked to' }),
});
const loginSchema = z
  .object({
    token: z.string().openapi({ description: 'Send it as `Authorization: Bearer <token>`' }),
    expiresAt: instant(),
    user: signedInSchema,
  })
  .openapi({ title: 'Session' });
const mfaChallengeSchema = z
  .object({
    mfaRequired: z.literal(true),
    challenge: z.string().openapi({
      description: 'Send it with a code to POST /login/mfa; single-use, bound to the account',
    }),
    expiresAt: instant().openapi({
      description: 'When the challenge expires (5 minutes after the password)',
    }),
  })
  .openapi({ title: 'MFA challenge', description: 'The password was right; the account signs in with MFA' });

/** The contract's session answer (`{ token, expires_at, user }`) of a sign-in. */
function sessionAnswer(result: SignedIn) {
  const session = {
    token: result.token,
    expiresAt: result.expiresAt,
    user: pick(result.user, signedInSchema),
  };
  return restView(session, loginSchema);
}

/** `POST /register`, `POST /login`, `POST /login/mfa`, `POST /logout`. */
export const authRoutes: RestRoute[] = [
  restRoute({
    method: 'post',
    path: '/register',
    summary: 'Register an account',
    description:
      'Creates a doctor or patient account, not yet linked to a record: an admin links it (POST /users/{id}/link) before it sees any patient data. Username: 3-80 letters, digits, `_ . -`; password: 8-256 characters, no composition rules; username and email are unique ignoring case.',
    access: 'anyone',
    body: { json: registerInput },
    answers: { 201: { description: 'The account', schema: accountSchema } },
    errors: [400, 409, 429],
    handler: async (c) => {
      const user = await callerFor(c).auth.register(parseBody(registerInput, await readJson(c)));
      return c.json(restView(user, accountSchema), 201);
    },
  }),
  restRoute({
    method: 'post',
    path: '/login',
    summary: 'Sign in',
    description:
      'Answers a session token (also set as an HttpOnly cookie for browsers). `username` may be the email. Sessions end after 30 minutes idle and 12 hours in all. For an account with MFA the answer is `{mfa_required: true, challenge, expires_at}` instead: send the challenge and a code to POST /login/mfa.',
    access: 'anyone',
    body: { json: loginInput },
    answers: {
      200: {
        description: 'The session, or for an account with MFA a challenge',
        schema: z.union([loginSchema, mfaChallengeSchema]),
      },
    },
    errors: [400, 401, 429],
    handler: async (c) => {
      const result = await callerFor(c).auth.login(parseBody(loginInput, await readJson(c)));
      if (result.mfaRequired) return c.json(restView(result, mfaChallengeSchema), 200);
      return c.json(sessionAnswer(result), 200);
    },
  }),
  restRoute({
    method: 'post',
    path: '/login/mfa',
    summary: 'Sign in: the second factor',
    description:
      'The second step for an account with MFA: the `challenge` POST /login answered (valid 5 minutes, once) and `code`, the 6-digit code of the authenticator app or an unused recovery code (`xxxx-xxxx-xxxx-xxxx`). Answers as POST /login does. A wrong code is a 401 and counts as a failed sign-in for the throttle (429 with `Retry-After` when it applies).',
    access: 'anyone',
    body: { json: loginMfaInput },
    answers: { 200: { description: 'The session', schema: loginSchema } },
    errors: [400, 401, 429],
    handler: async (c) => {
      const result = await callerFor(c).auth.loginMfa(parseBody(loginMfaInput, await readJson(c)));
      return c.json(sessionAnswer(result), 200);
    },
  }),
  restRoute({
    method: 'post',
    path: '/logout',
    summary: 'Sign out',
    description: 'Ends the session the request was made with.',
    access: 'signed in',
    answers: { 204: { description: 'Signed out' } },
    errors: [401],
    handler: async (c) => {
      await callerFor(c).auth.logout();
      return c.body(null, 204);
    },
  }),
];
