import { usersRepo } from '@hdms/db';
import {
  clientNetwork,
  createAccount,
  findAccount,
  hashPassword,
  loginSubject,
  type Reservation,
  SignInThrottle,
  verifyPassword,
} from '../../auth/index';
import type { SessionManager } from '../../auth/sessions';
import type { UserActor } from '../actor';
import type { DomainContext } from '../context';
import { recordAudit } from '../audit/record';
import { badRequest, DomainError, unauthorized } from '../errors';
import { recordAccountChanged } from '../events/record';
import type { ChangePasswordInput, LoginInput, RegisterInput } from './schemas';
import { type UserView, userView } from './views';

/** A new session as the caller receives it (its token also set as the cookie). */
export interface SignedIn {
  token: string;
  expiresAt: Date;
  user: UserView;
}

/** What the throttle needs of a request. */
type ThrottleContext = Pick<DomainContext, 'db' | 'config' | 'logger' | 'ip'>;

/** What signing in needs of a request: the throttle's, the sessions and the cookie. */
type SignInContext = ThrottleContext & {
  sessions: SessionManager;
  /** Hands the session cookie to the transport, where there is one. */
  setCookie: (cookie: string) => void;
};

/** A signed-in person's request. */
type UserContext = SignInContext & Pick<DomainContext<UserActor>, 'actor' | 'requestId' | 'procedure'>;

/** The sign-in and registration throttle of the request's database, with the server's limits. */
function throttleOf(ctx: Pick<ThrottleContext, 'db' | 'config' | 'logger'>): SignInThrottle {
  return new SignInThrottle(ctx.db, ctx.config.signInLimits, ctx.logger);
}

/** Checks a password for a reserved attempt; a check that never ran gives the reservation back. */
async function verifyReserved(reservation: Reservation, storedHash: string | null, password: string) {
  try {
    return await verifyPassword(storedHash, password);
  } catch (error) {
    await reservation.cancel();
    throw error;
  }
}

/**
 * Registers a doctor or patient account (not linked to any record), within the registration
 * throttle of the client's address.
 */
export async function register(ctx: ThrottleContext, input: RegisterInput): Promise<UserView> {
  const reservation = await throttleOf(ctx).reserveRegistration(ctx.ip);
  const user = await createAccount(ctx.db, input).catch(async (error: unknown) => {
    // Too busy to hash the password: the registration was not made and does not count.
    if (error instanceof DomainError) await reservation?.cancel();
    throw error;
  });
  ctx.logger.info({ userId: user.id, role: user.role }, 'account registered');
  return userView(user);
}

/**
 * Signs in with a username (or email) and password, within the sign-in throttle: a new session,
 * its token also set as the cookie. Any failure is the same UNAUTHORIZED.
 */
export function login(ctx: SignInContext, input: LoginInput): Promise<SignedIn> {
  const throttle = throttleOf(ctx);
  const name = input.username.trim().toLowerCase();
  return throttle.oneAtATime(`login\n${clientNetwork(ctx.ip) ?? '-'}\n${name}`, async () => {
    const user = await findAccount(ctx.db, input.username);
    const reservation = await throttle.reserveSignIn({
      subject: loginSubject(user?.id ?? null, input.username),
      userId: user?.id ?? null,
      ip: ctx.ip,
    });
    const valid = await verifyReserved(reservation, user?.passwordHash ?? null, input.password);
    if (!user || !valid || user.disabledAt) {
      await reservation.failed();
      ctx.logger.warn({ userId: user?.id }, 'sign-in failed');
      throw unauthorized('Invalid username or password');
    }
    await reservation.succeeded();
    const session = await ctx.sessions.create(user.id);
    ctx.setCookie(ctx.sessions.cookieFor(session.token));
    ctx.logger.info({ userId: user.id }, 'signed in');
    return { token: session.token, expiresAt: session.expiresAt, user: userView(user) };
  });
}

/** Ends the caller's session and clears the cookie. */
export async function logout(
  ctx: Pick<UserContext, 'db' | 'sessions' | 'setCookie' | 'actor'>,
): Promise<{ ok: true }> {
  await ctx.sessions.invalidate(ctx.actor.sessionToken);
  await recordAccountChanged(ctx.db, ctx.actor.id);
  ctx.setCookie(ctx.sessions.blankCookie());
  return { ok: true as const };
}

/** The signed-in account (UNAUTHORIZED if it no longer exists). */
export async function me(ctx: Pick<UserContext, 'db' | 'actor'>): Promise<UserView> {
  const user = await usersRepo.findById(ctx.db, ctx.actor.id);
  if (!user) throw unauthorized();
  return userView(user);
}

/**
 * Changes the caller's password after checking the current one (within the sign-in throttle):
 * audited; every session of the account ends, and the caller gets a new one (and its cookie).
 */
export function changePassword(ctx: UserContext, input: ChangePasswordInput): Promise<SignedIn> {
  const throttle = throttleOf(ctx);
  const { actor } = ctx;
  return throttle.oneAtATime(`password\n${clientNetwork(ctx.ip) ?? '-'}\n${actor.id}`, async () => {
    const reservation = await throttle.reserveSignIn({
      subject: loginSubject(actor.id, actor.username),
      userId: actor.id,
      ip: ctx.ip,
    });
    const user = await usersRepo.findById(ctx.db, actor.id);
    if (!user) {
      await reservation.cancel();
      throw unauthorized();
    }
    if (!(await verifyReserved(reservation, user.passwordHash, input.currentPassword))) {
      await reservation.failed();
      throw badRequest('The current password is not correct');
    }
    await reservation.succeeded();
    const passwordHash = await hashPassword(input.newPassword);
    await ctx.db.transaction(async (tx) => {
      await usersRepo.update(ctx.db, user.id, { passwordHash }, { tx });
      await recordAudit(ctx, { action: 'update', patientIds: [] }, tx);
    });
    await ctx.sessions.invalidateUser(user.id);
    await recordAccountChanged(ctx.db, user.id);
    const session = await ctx.sessions.create(user.id);
    ctx.setCookie(ctx.sessions.cookieFor(session.token));
    ctx.logger.info({ userId: user.id }, 'password changed; all sessions ended');
    return { token: session.token, expiresAt: session.expiresAt, user: userView(user) };
  });
}
