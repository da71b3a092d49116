import { mfaRepo } from '@hdms/db';
import { newChallengeToken, sha256Hex } from '../../auth/index';
import type { DomainContext } from '../context';

/** How long a sign-in challenge waits for its code. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

/** The time the MFA rules read (epoch ms): the server's clock, which tests may set. */
export interface ClockContext {
  clock: () => number;
}

/**
 * `auth.login`'s answer for an account with MFA: no session yet, but a challenge to send back to
 * `auth.loginMfa` with a code before `expiresAt`.
 */
export interface MfaChallengeAnswer {
  mfaRequired: true;
  /** Single-use, bound to the account, valid until `expiresAt`. */
  challenge: string;
  expiresAt: Date;
}

/**
 * Issues a sign-in challenge for account `userId`, whose password was right: a random token for
 * the client, its SHA-256 in the database (so any server instance can finish the sign-in).
 */
export async function issueChallenge(
  ctx: Pick<DomainContext, 'db'> & ClockContext,
  userId: number,
): Promise<MfaChallengeAnswer> {
  const challenge = newChallengeToken();
  const expiresAt = new Date(ctx.clock() + CHALLENGE_TTL_MS);
  await mfaRepo.insertChallenge(ctx.db, { id: sha256Hex(challenge), userId, expiresAt });
  return { mfaRequired: true, challenge, expiresAt };
}
