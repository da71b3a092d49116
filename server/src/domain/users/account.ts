import { mfaRepo, usersRepo } from '@hdms/db';
import { clientNetwork, createAccount, findAccount, hashPassword, loginSubject } from '../../auth/index';
import { recordAudit } from '../audit/record';
import { badInput, badRequest, DomainError, unauthorized } from '../errors';
import { recordAccountChanged } from '../events/record';
import { type ClockContext, issueChallenge, type MfaChallengeAnswer } from '../mfa/challenge';
import { passwordProblem } from './passwordPolicy';
import type { ChangePasswordInput, LoginInput, RegisterInput } from './schemas';
import {
  openSession,
  type SignedIn,
  type SignInContext,
  type ThrottleContext,
  throttleOf,
  type UserContext,
  verifyReserved,
} from './signIn';
import { type UserView, userView } from './views';

export type { SignedIn } from './signIn';

/** The signed-in account as `auth.me` shows it: whether MFA is on, and whether its role needs it. */
export type MeView = UserView & { mfaRequired: boolean };

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
  return userView(user, false);
}

/**
 * Signs in with a username (or email) and password, within the sign-in throttle: a new session,
 * its token also set as the cookie; for an account with MFA, a challenge for `auth.loginMfa`
 * instead. Any failure is the same UNAUTHORIZED.
 */
export function login(
  ctx: SignInContext & ClockContext,
  input: LoginInput,
): Promise<SignedIn | MfaChallengeAnswer> {
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
    if ((await mfaRepo.findFactor(ctx.db, user.id))?.enabledAt) {
      ctx.logger.info({ userId: user.id }, 'password accepted; waiting for the MFA code');
      return issueChallenge(ctx, user.id);
    }
    return openSession(ctx, user, false);
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

/** The signed-in account (UNAUTHORIZED if it no longer exists), with its MFA standing. */
export async function me(ctx: Pick<UserContext, 'db' | 'actor' | 'config'>): Promise<MeView> {
  const user = await usersRepo.findById(ctx.db, ctx.actor.id);
  if (!user) throw unauthorized();
  const mfaEnabled = Boolean((await mfaRepo.findFactor(ctx.db, user.id))?.enabledAt);
  return {
    ...userView(user, mfaEnabled),
    mfaRequired: ctx.config.mfaRequiredRoles.includes(user.role),
  };
}

/**
 * Changes the caller's password after checking the current one (within the sign-in throttle):
 * audited; every session of the account ends, and the caller gets a new one (and its cookie).
 * The new password must pass the password policy for this account (`passwordPolicy.ts`).
 */
export async function changePassword(ctx: UserContext, input: ChangePasswordInput): Promise<SignedIn> {
  const throttle = throttleOf(ctx);
  const { actor } = ctx;
  const problem = passwordProblem(input.newPassword, actor);
  if (problem) throw badInput(['newPassword'], problem.message);
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
    const signedIn = await openSession(ctx, user, actor.mfaEnabled);
    ctx.logger.info({ userId: user.id }, 'password changed; all sessions ended');
    return signedIn;
  });
}
