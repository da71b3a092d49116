import { type Database, mfaRepo, type Transaction, usersRepo } from '@hdms/db';
import {
  clientNetwork,
  loginSubject,
  matchTotp,
  newRecoveryCodes,
  newTotpSecret,
  normalizeRecoveryCode,
  qrSvg,
  recoveryCodeHash,
  type Reservation,
  sha256Hex,
  totpUri,
} from '../../auth/index';
import type { UserActor } from '../actor';
import { type AuditSource, recordAudit } from '../audit/record';
import type { DomainContext } from '../context';
import { badInput, badRequest, conflict, notFound, unauthorized } from '../errors';
import { recordEvent } from '../events/record';
import {
  endOtherSessions,
  openSession,
  type SignedIn,
  type SignInContext,
  throttleOf,
  type UserContext,
  verifyReserved,
} from '../users/signIn';
import { type UserView, userTarget, userView } from '../users/views';
import type { ClockContext } from './challenge';
import type { ConfirmInput, DisableInput, EnrollInput, LoginMfaInput } from './schemas';

/**
 * Multi-factor sign-in (TOTP, RFC 6238) and its rules, once for every surface:
 * - enrolling needs the account's current password (throttled as a sign-in), so that a stolen
 *   session cannot put its own device on the account; it is refused while MFA is on;
 * - a code counts once: the last accepted time step is stored, and a code of it or of an earlier
 *   step is refused (a replay), on every server instance alike;
 * - every code typed (confirm, disable, the sign-in's second step) is a sign-in attempt of the
 *   account for the sign-in throttle, so that guessing a code is as slow as guessing a password;
 * - confirm, disable and an admin's reset end the account's other sessions; enroll, confirm,
 *   disable, reset and every use of a recovery code are audited.
 */

/** What an MFA command of a signed-in person needs. */
export type MfaContext = UserContext & ClockContext;

/** `auth.mfa.enroll`'s answer: the secret three ways (text, `otpauth://` URI, QR code as SVG). */
export interface Enrollment {
  /** The base32 secret, for typing into an app by hand. */
  secret: string;
  otpauthUri: string;
  /** A QR code of `otpauthUri`, an SVG document to show as is. */
  qrSvg: string;
}

/** `auth.mfa.confirm`'s answer: the recovery codes, shown this once (only their digests are kept). */
export interface Confirmation {
  recoveryCodes: string[];
}

/** The issuer authenticator apps list the account under. */
const ISSUER = 'HDMS';

/** The code typed, as a 6-digit TOTP code or a normalized recovery code (null: neither). */
function readCode(typed: string): { totp: string } | { recovery: string } | null {
  const digits = typed.replace(/\s/g, '');
  if (/^\d{6}$/.test(digits)) return { totp: digits };
  const recovery = normalizeRecoveryCode(typed);
  return recovery ? { recovery } : null;
}

/** How a person's own MFA change is audited: the account as the target, in `tx`. */
function auditOwn(ctx: MfaContext, action: 'create' | 'update', tx: Transaction, procedure?: string) {
  return recordAudit(
    ctx,
    { action, targets: [userTarget(ctx.actor)], ...(procedure ? { procedure } : {}) },
    tx,
  );
}

/**
 * Runs one throttled attempt of the signed-in account (a password or a code typed): one at a
 * time per account and address, reserved with the sign-in throttle before `work` checks it.
 */
function attempt<T>(
  ctx: MfaContext,
  kind: string,
  work: (reservation: Reservation) => Promise<T>,
): Promise<T> {
  const throttle = throttleOf(ctx);
  const { actor } = ctx;
  return throttle.oneAtATime(`${kind}\n${clientNetwork(ctx.ip) ?? '-'}\n${actor.id}`, async () => {
    const reservation = await throttle.reserveSignIn({
      subject: loginSubject(actor.id, actor.username),
      userId: actor.id,
      ip: ctx.ip,
    });
    try {
      return await work(reservation);
    } finally {
      // A check that never decided (a database failure) does not count as a guess.
      await reservation.cancel();
    }
  });
}

/**
 * Checks `typed` against the enabled authenticator of account `userId` and uses it up inside
 * `tx`: a TOTP code's step is claimed (false for a replay), a recovery code marked used. Which
 * kind was used, or null when it was not a valid, unused code.
 */
async function useCode(
  db: Database,
  factor: mfaRepo.FactorRow,
  typed: string,
  now: number,
  tx: Transaction,
): Promise<'totp' | 'recovery' | null> {
  const code = readCode(typed);
  if (!code) return null;
  if ('totp' in code) {
    const step = matchTotp(factor.secret, code.totp, now);
    if (step === null) return null;
    return (await mfaRepo.claimStep(db, factor.userId, step, { tx })) ? 'totp' : null;
  }
  const used = await mfaRepo.useRecoveryCode(
    db,
    { userId: factor.userId, codeHash: recoveryCodeHash(code.recovery), usedAt: new Date(now) },
    { tx },
  );
  return used ? 'recovery' : null;
}

/** Audits the use of a recovery code by account `user` (an act of that account, whoever's call it is). */
function auditRecoveryCode(
  source: Omit<AuditSource, 'actor'>,
  user: UserActor,
  tx: Transaction,
): Promise<void> {
  return recordAudit(
    { ...source, actor: user },
    {
      action: 'update',
      targets: [userTarget(user)],
      procedure: `${source.procedure ?? 'mfa'}:recovery-code`,
    },
    tx,
  );
}

/**
 * `auth.mfa.enroll`: after the current password (a throttled sign-in attempt), a new secret for
 * the caller's authenticator app, pending until `confirm`. Enrolling again replaces a pending
 * secret; refused (CONFLICT) while MFA is on.
 */
export async function enroll(ctx: MfaContext, input: EnrollInput): Promise<Enrollment> {
  const { actor } = ctx;
  const mfaOn = () =>
    conflict('MFA is already on for this account; turn it off (auth.mfa.disable) to enroll another device');
  if ((await mfaRepo.findFactor(ctx.db, actor.id))?.enabledAt) throw mfaOn();
  const secret = await attempt(ctx, 'password', async (reservation) => {
    const user = await usersRepo.findById(ctx.db, actor.id);
    if (!user) throw unauthorized();
    if (!(await verifyReserved(reservation, user.passwordHash, input.password))) {
      await reservation.failed();
      throw badInput(['password'], 'is not the current password of this account');
    }
    await reservation.succeeded();
    const fresh = newTotpSecret();
    await ctx.db.transaction(async (tx) => {
      if (!(await mfaRepo.savePending(ctx.db, actor.id, fresh, { tx }))) throw mfaOn();
      await auditOwn(ctx, 'create', tx);
    });
    return fresh;
  });
  const otpauthUri = totpUri(secret, { label: actor.username, issuer: ISSUER });
  ctx.logger.info({ userId: actor.id }, 'MFA enrollment started');
  return { secret, otpauthUri, qrSvg: await qrSvg(otpauthUri) };
}

/**
 * `auth.mfa.confirm`: the first code of the enrolled app turns MFA on (that code is used up), and
 * ten single-use recovery codes are issued, replacing any earlier ones. Every other session of the
 * account ends.
 */
export async function confirm(ctx: MfaContext, input: ConfirmInput): Promise<Confirmation> {
  const { actor } = ctx;
  const factor = await mfaRepo.findFactor(ctx.db, actor.id);
  if (!factor) throw badRequest('No enrollment to confirm: start with auth.mfa.enroll');
  if (factor.enabledAt) throw conflict('MFA is already on for this account');
  const recoveryCodes = await attempt(ctx, 'mfa', async (reservation) => {
    const now = ctx.clock();
    const step = matchTotp(factor.secret, input.code, now);
    if (step === null) {
      await reservation.failed();
      throw badInput(['code'], 'is not the current code of the authenticator app just enrolled');
    }
    await reservation.succeeded();
    const codes = newRecoveryCodes();
    await ctx.db.transaction(async (tx) => {
      const enabled = await mfaRepo.enable(
        ctx.db,
        {
          userId: actor.id,
          secret: factor.secret,
          step,
          enabledAt: new Date(now),
          recoveryCodeHashes: codes.map((code) => recoveryCodeHash(normalizeRecoveryCode(code)!)),
        },
        { tx },
      );
      if (!enabled)
        throw conflict('The enrollment changed meanwhile (enrolled again elsewhere?); enroll again');
      await auditOwn(ctx, 'update', tx);
      await endOtherSessions(ctx, actor.id, actor.sessionToken, tx);
      await recordEvent(ctx.db, tx, { type: 'account.changed', entityId: actor.id });
    });
    return codes;
  });
  ctx.logger.info({ userId: actor.id }, 'MFA turned on; other sessions ended');
  return { recoveryCodes };
}

/**
 * `auth.mfa.disable`: with a current code or an unused recovery code, MFA is turned off (the
 * secret and recovery codes are deleted). Every other session of the account ends.
 */
export async function disable(ctx: MfaContext, input: DisableInput): Promise<{ mfaEnabled: false }> {
  const { actor } = ctx;
  const factor = await mfaRepo.findFactor(ctx.db, actor.id);
  if (!factor?.enabledAt) throw badRequest('MFA is not on for this account');
  await attempt(ctx, 'mfa', async (reservation) => {
    const ok = await ctx.db.transaction(async (tx) => {
      const used = await useCode(ctx.db, factor, input.code, ctx.clock(), tx);
      if (!used) return false;
      if (used === 'recovery') await auditRecoveryCode(ctx, actor, tx);
      await mfaRepo.removeAll(ctx.db, actor.id, { tx });
      await auditOwn(ctx, 'update', tx);
      await endOtherSessions(ctx, actor.id, actor.sessionToken, tx);
      await recordEvent(ctx.db, tx, { type: 'account.changed', entityId: actor.id });
      return true;
    });
    if (!ok) {
      await reservation.failed();
      throw badInput(['code'], 'is not a current code of your authenticator app nor an unused recovery code');
    }
    await reservation.succeeded();
  });
  ctx.logger.info({ userId: actor.id }, 'MFA turned off; other sessions ended');
  return { mfaEnabled: false };
}

/**
 * `auth.loginMfa`: the second step of signing in to an account with MFA. The challenge (from
 * `auth.login`) must be unexpired and unused, and the code a current TOTP code not used before or
 * an unused recovery code; each try is a throttled sign-in attempt of the account. The challenge
 * is used up by the sign-in it completes (a wrong code leaves it for another try until it
 * expires). Answers a session exactly as `auth.login` does.
 */
export async function loginMfa(
  ctx: SignInContext & ClockContext & Pick<DomainContext, 'requestId' | 'procedure'>,
  input: LoginMfaInput,
): Promise<SignedIn> {
  const expired = () =>
    unauthorized('This sign-in has expired or was already completed; sign in with your password again');
  const challengeId = sha256Hex(input.challenge.toLowerCase());
  const challenge = await mfaRepo.findChallenge(ctx.db, challengeId);
  if (!challenge || challenge.expiresAt.getTime() <= ctx.clock()) throw expired();
  const throttle = throttleOf(ctx);
  const { userId } = challenge;
  return throttle.oneAtATime(`mfa\n${clientNetwork(ctx.ip) ?? '-'}\n${userId}`, async () => {
    const reservation = await throttle.reserveSignIn({
      subject: loginSubject(userId, ''),
      userId,
      ip: ctx.ip,
    });
    let settled = false;
    try {
      const user = await usersRepo.findById(ctx.db, userId);
      const factor = await mfaRepo.findFactor(ctx.db, userId);
      if (!user || user.disabledAt || !factor?.enabledAt) throw expired();
      const actor: UserActor = {
        type: 'user',
        id: user.id,
        role: user.role,
        username: user.username,
        email: user.email,
        doctorId: user.doctorId,
        patientId: user.patientId,
        mfaEnabled: true,
        sessionToken: '',
      };
      const outcome = await ctx.db.transaction(async (tx) => {
        const now = ctx.clock();
        const used = await useCode(ctx.db, factor, input.code, now, tx);
        if (!used) return 'wrong code' as const;
        if (!(await mfaRepo.consumeChallenge(ctx.db, challengeId, new Date(now), { tx }))) {
          throw expired();
        }
        if (used === 'recovery') await auditRecoveryCode(ctx, actor, tx);
        return used;
      });
      if (outcome === 'wrong code') {
        settled = true;
        await reservation.failed();
        ctx.logger.warn({ userId }, 'sign-in failed: wrong MFA code');
        throw unauthorized('Invalid code');
      }
      settled = true;
      await reservation.succeeded();
      if (outcome === 'recovery') {
        const left = await mfaRepo.countUnusedRecoveryCodes(ctx.db, userId);
        ctx.logger.info({ userId, recoveryCodesLeft: left }, 'signed in with a recovery code');
      }
      return openSession(ctx, user, true);
    } finally {
      if (!settled) await reservation.cancel();
    }
  });
}

/** What resetting another account's MFA needs: who does it, for the audit trail. */
export type ResetContext = Pick<DomainContext, 'db' | 'logger'> &
  Omit<AuditSource, 'db'> & {
    /** The caller's own session token, kept when they reset their own account (null: none). */
    keepSessionToken?: string | null;
  };

/**
 * Turns MFA off for account `userId` (an admin's `users.resetMfa`, or the `reset-mfa` command):
 * its secret, recovery codes and open sign-in challenges are deleted, and its sessions end (but
 * the caller's own, when an admin resets their own account). Audited. The account's view and
 * whether MFA was on, or NOT_FOUND.
 */
export async function resetMfa(
  ctx: ResetContext,
  userId: number,
): Promise<{ user: UserView; hadMfa: boolean }> {
  const result = await ctx.db.transaction(async (tx) => {
    const user = await usersRepo.findById(ctx.db, userId, { tx, lock: 'update' });
    if (!user) throw notFound('User');
    const hadMfa = Boolean((await mfaRepo.findFactor(ctx.db, userId, { tx }))?.enabledAt);
    await mfaRepo.removeAll(ctx.db, userId, { tx });
    await recordAudit(ctx, { action: 'update', targets: [userTarget(user)] }, tx);
    const own = ctx.actor?.type === 'user' && ctx.actor.id === userId;
    await endOtherSessions(ctx, userId, own ? (ctx.keepSessionToken ?? null) : null, tx);
    await recordEvent(ctx.db, tx, { type: 'account.changed', entityId: userId });
    return { user: userView(user, false), hadMfa };
  });
  ctx.logger.info({ userId, hadMfa: result.hadMfa }, 'MFA reset; sessions ended');
  return result;
}

/** `users.resetMfa`: an admin turns an account's MFA off (a lost phone and lost recovery codes). */
export async function resetUserMfa(
  ctx: Pick<DomainContext<UserActor<'admin'>>, 'db' | 'logger' | 'actor' | 'requestId' | 'ip' | 'procedure'>,
  userId: number,
): Promise<UserView> {
  return (await resetMfa({ ...ctx, keepSessionToken: ctx.actor.sessionToken }, userId)).user;
}
