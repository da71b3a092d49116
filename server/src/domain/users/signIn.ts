import { positionsRepo, sessionsRepo, type Transaction } from '@hdms/db';
import { type Reservation, SignInThrottle, sha256Hex, verifyPassword } from '../../auth/index';
import type { SessionManager } from '../../auth/sessions';
import type { UserActor } from '../actor';
import type { DomainContext } from '../context';
import { type UserView, userView } from './views';

/**
 * What signing in shares between its steps (the password, then the second factor): the throttle,
 * the password check under a reservation, and the session a successful sign-in opens.
 */

/** A new session as the caller receives it (its token also set as the cookie). */
export interface SignedIn {
  /** False: this answer is a session (an account with MFA first gets a challenge). */
  mfaRequired: false;
  token: string;
  expiresAt: Date;
  user: UserView;
}

/** What the throttle needs of a request. */
export type ThrottleContext = Pick<DomainContext, 'db' | 'config' | 'logger' | 'ip'>;

/** What signing in needs of a request: the throttle's, the sessions and the cookie. */
export type SignInContext = ThrottleContext & {
  sessions: SessionManager;
  /** Hands the session cookie to the transport, where there is one. */
  setCookie: (cookie: string) => void;
};

/** A signed-in person's request. */
export type UserContext = SignInContext & Pick<DomainContext<UserActor>, 'actor' | 'requestId' | 'procedure'>;

/** The sign-in and registration throttle of the request's database, with the server's limits. */
export function throttleOf(ctx: Pick<ThrottleContext, 'db' | 'config' | 'logger'>): SignInThrottle {
  return new SignInThrottle(ctx.db, ctx.config.signInLimits, ctx.logger);
}

/** Checks a password for a reserved attempt; a check that never ran gives the reservation back. */
export async function verifyReserved(
  reservation: Reservation,
  storedHash: string | null,
  password: string,
): Promise<boolean> {
  try {
    return await verifyPassword(storedHash, password);
  } catch (error) {
    await reservation.cancel();
    throw error;
  }
}

/** Opens a session for an account that has signed in, and hands its cookie to the transport. */
export async function openSession(
  ctx: SignInContext,
  user: Parameters<typeof userView>[0],
  mfaEnabled: boolean,
): Promise<SignedIn> {
  const session = await ctx.sessions.create(user.id);
  // Read replicas: this session's reads see everything committed before the sign-in (a failure
  // to record only means they may start from a replica's older state).
  await positionsRepo.record(ctx.db, user.id).catch(() => undefined);
  ctx.setCookie(ctx.sessions.cookieFor(session.token));
  ctx.logger.info({ userId: user.id }, 'signed in');
  return {
    mfaRequired: false,
    token: session.token,
    expiresAt: session.expiresAt,
    user: userView(user, mfaEnabled),
  };
}

/**
 * Ends every session of account `userId` but `keepToken`'s (the caller's own, when the change
 * comes from one of the account's sessions; null ends them all), in the caller's transaction.
 */
export function endOtherSessions(
  ctx: Pick<DomainContext, 'db'>,
  userId: number,
  keepToken: string | null,
  tx: Transaction,
): Promise<void> {
  return sessionsRepo.deleteByUserExcept(ctx.db, userId, keepToken === null ? null : sha256Hex(keepToken), {
    tx,
  });
}
