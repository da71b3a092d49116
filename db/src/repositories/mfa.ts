import { Op } from 'sequelize';
import type { Database } from '../connection';
import { findPlain } from '../plain';
import { lockOf, type ReadOptions, type WriteOptions } from './tx';

/**
 * Multi-factor sign-in (`mfa_factors`, `mfa_recovery_codes`, `mfa_challenges`; the rules are the
 * server's `domain/mfa/`). Every use of a code is one conditional `UPDATE` (or `DELETE`) whose
 * affected-row count decides, so that a code, a recovery code or a challenge is accepted once
 * however many requests and server instances race for it.
 */

/** An account's authenticator as stored. */
export interface FactorRow {
  userId: number;
  /** The base32 secret. */
  secret: string;
  /** When a code confirmed it; null while the enrollment is pending. */
  enabledAt: Date | null;
  /** The last time step a code was accepted for, if any. */
  lastStep: number | null;
}

/** A sign-in challenge as stored (`id` is the SHA-256 of its token). */
export interface ChallengeRow {
  id: string;
  userId: number;
  expiresAt: Date;
}

/** The authenticator of account `userId` (pending or enabled), or null. */
export async function findFactor(
  db: Database,
  userId: number,
  options: ReadOptions = {},
): Promise<FactorRow | null> {
  const [row] = await findPlain(db.models.MfaFactor, {
    where: { userId },
    attributes: ['userId', 'secret', 'enabledAt', 'lastStep'],
    limit: 1,
    transaction: options.tx,
    lock: lockOf(options.tx, options.lock),
  });
  if (!row) return null;
  return {
    userId: row.userId,
    secret: row.secret,
    enabledAt: row.enabledAt ?? null,
    lastStep: row.lastStep ?? null,
  };
}

/**
 * Stores a pending (unconfirmed) authenticator for the account, replacing a pending one; an
 * enabled one is left as it is (false then: nothing was stored).
 */
export async function savePending(
  db: Database,
  userId: number,
  secret: string,
  options: WriteOptions = {},
): Promise<boolean> {
  const [changed] = await db.models.MfaFactor.update(
    { secret, lastStep: null },
    { where: { userId, enabledAt: null }, transaction: options.tx },
  );
  if (changed > 0) return true;
  const existing = await findFactor(db, userId, { tx: options.tx });
  if (existing) return existing.enabledAt === null;
  await db.models.MfaFactor.create(
    { userId, secret, enabledAt: null, lastStep: null },
    { transaction: options.tx },
  );
  return true;
}

/**
 * Turns the pending authenticator with `secret` on, the code of time step `step` having confirmed
 * it, and gives the account these recovery codes (digests) in place of any it had. False when
 * there is no such pending authenticator (it was replaced, or confirmed already).
 */
export async function enable(
  db: Database,
  change: { userId: number; secret: string; step: number; enabledAt: Date; recoveryCodeHashes: string[] },
  options: WriteOptions = {},
): Promise<boolean> {
  const [changed] = await db.models.MfaFactor.update(
    { enabledAt: change.enabledAt, lastStep: change.step },
    { where: { userId: change.userId, secret: change.secret, enabledAt: null }, transaction: options.tx },
  );
  if (changed === 0) return false;
  await db.models.MfaRecoveryCode.destroy({ where: { userId: change.userId }, transaction: options.tx });
  await db.models.MfaRecoveryCode.bulkCreate(
    change.recoveryCodeHashes.map((codeHash) => ({ userId: change.userId, codeHash, usedAt: null })),
    { transaction: options.tx },
  );
  return true;
}

/**
 * Records that a code of time step `step` was accepted for the enabled authenticator of
 * `userId`. False when a code of that step or a later one was accepted before (a replay).
 */
export async function claimStep(
  db: Database,
  userId: number,
  step: number,
  options: WriteOptions = {},
): Promise<boolean> {
  const [changed] = await db.models.MfaFactor.update(
    { lastStep: step },
    {
      where: {
        userId,
        enabledAt: { [Op.ne]: null },
        [Op.or]: [{ lastStep: null }, { lastStep: { [Op.lt]: step } }],
      },
      transaction: options.tx,
    },
  );
  return changed > 0;
}

/** Marks the unused recovery code with this digest as used at `usedAt`; false when there is none. */
export async function useRecoveryCode(
  db: Database,
  use: { userId: number; codeHash: string; usedAt: Date },
  options: WriteOptions = {},
): Promise<boolean> {
  const [changed] = await db.models.MfaRecoveryCode.update(
    { usedAt: use.usedAt },
    { where: { userId: use.userId, codeHash: use.codeHash, usedAt: null }, transaction: options.tx },
  );
  return changed > 0;
}

/** How many recovery codes of the account are still unused. */
export function countUnusedRecoveryCodes(
  db: Database,
  userId: number,
  options: ReadOptions = {},
): Promise<number> {
  return db.models.MfaRecoveryCode.count({ where: { userId, usedAt: null }, transaction: options.tx });
}

/**
 * Removes everything MFA of an account: its authenticator (pending or enabled), its recovery codes
 * and its open sign-in challenges. Whether it had an authenticator at all.
 */
export async function removeAll(db: Database, userId: number, options: WriteOptions = {}): Promise<boolean> {
  const transaction = options.tx;
  await db.models.MfaChallenge.destroy({ where: { userId }, transaction });
  await db.models.MfaRecoveryCode.destroy({ where: { userId }, transaction });
  return (await db.models.MfaFactor.destroy({ where: { userId }, transaction })) > 0;
}

/** Stores a sign-in challenge. */
export async function insertChallenge(
  db: Database,
  row: ChallengeRow,
  options: WriteOptions = {},
): Promise<void> {
  await db.models.MfaChallenge.create(row, { transaction: options.tx });
}

/** The challenge with this id (its token's SHA-256), expired or not, or null. */
export async function findChallenge(db: Database, id: string): Promise<ChallengeRow | null> {
  const [row] = await findPlain(db.models.MfaChallenge, {
    where: { id },
    attributes: ['id', 'userId', 'expiresAt'],
    limit: 1,
  });
  return row ? { id: row.id, userId: row.userId, expiresAt: row.expiresAt } : null;
}

/** Deletes the challenge if it has not expired by `now`: true for the one caller that used it. */
export async function consumeChallenge(
  db: Database,
  id: string,
  now: Date,
  options: WriteOptions = {},
): Promise<boolean> {
  const deleted = await db.models.MfaChallenge.destroy({
    where: { id, expiresAt: { [Op.gt]: now } },
    transaction: options.tx,
  });
  return deleted > 0;
}

/** Deletes challenges that expired at or before `now`; how many. */
export function deleteExpiredChallenges(
  db: Database,
  now: Date,
  options: WriteOptions = {},
): Promise<number> {
  return db.models.MfaChallenge.destroy({ where: { expiresAt: { [Op.lte]: now } }, transaction: options.tx });
}
