import { randomBytes } from 'node:crypto';
import { type Database, databaseFailureOf, type Role, type Transaction, usersRepo } from '@hdms/db';
import { DomainError } from '../domain/errors';
import { type PasswordOwner, passwordProblem } from '../domain/users/passwordPolicy';
import { type Config, ConfigError } from '../env';
import type { Logger } from '../logger';
import { createAccount } from './accounts';

/** What the admin bootstrap did, for the start-up banner. */
export type BootstrapResult =
  | { kind: 'none' }
  | { kind: 'configured'; username: string }
  | { kind: 'kept'; username: string; role: Role }
  | { kind: 'generated'; username: string; password: string };

/**
 * Shows the bootstrap's outcome to the operator (the start-up banner). A generated account is
 * committed only once this has returned, so its password cannot be lost to a failed start.
 */
export type AnnounceBootstrap = (result: BootstrapResult) => void | Promise<void>;

/**
 * A strong random one-time password: 144 random bits, 24 URL-safe characters, drawn again in the
 * (vanishingly rare) case that the password policy refuses it for `owner`.
 */
export function generatePassword(owner: PasswordOwner = {}): string {
  for (;;) {
    const password = randomBytes(18).toString('base64url');
    if (!passwordProblem(password, owner)) return password;
  }
}

/**
 * The contract's admin bootstrap, in one transaction that commits only after `announce` (if any)
 * has returned:
 * - ADMIN_PASSWORD set: that admin (ADMIN_USERNAME, default `admin`) is created unless the account
 *   exists; an existing account is kept as it is (`kept`: the caller says so, never silently).
 * - otherwise, when no admin exists at all, user `admin` (or ADMIN_USERNAME) is created with a
 *   random password for the caller to print once (`generated`); later starts find the admin.
 */
export async function bootstrapAdmin(
  db: Database,
  config: Config,
  logger: Logger,
  announce?: AnnounceBootstrap,
): Promise<BootstrapResult> {
  const attempt = () =>
    db.transaction(async (transaction) => {
      const outcome = await bootstrapIn(db, config, transaction);
      await announce?.(outcome);
      return outcome;
    });
  let result: BootstrapResult;
  try {
    result = await attempt();
  } catch (error) {
    // Another instance on the same database created the account at the same moment (its start
    // announced it): decide again, now that it exists.
    if (!isDuplicate(error)) throw error;
    result = await attempt();
  }
  if (result.kind === 'configured') {
    logger.info({ username: result.username }, 'admin account created from ADMIN_* settings');
  } else if (result.kind === 'generated') {
    logger.info({ username: result.username }, 'admin account created with a generated password');
  }
  return result;
}

/**
 * The password policy applied to ADMIN_PASSWORD for the admin it creates: a `ConfigError` naming
 * the variable and the rule (never the value).
 */
function checkAdminPassword(password: string, account: PasswordOwner, config: Config): void {
  const problem = passwordProblem(password, account);
  if (!problem) return;
  const why =
    problem.rule === 'username'
      ? `must not contain the admin's username (ADMIN_USERNAME${config.admin.username ? '' : ', `admin` by default'})`
      : problem.rule === 'email'
        ? `must not contain the part of the admin's email before the @ (ADMIN_EMAIL${config.admin.email ? '' : ', `<username>@hdms.local` by default'})`
        : problem.message;
  throw new ConfigError(
    `Invalid configuration: ADMIN_PASSWORD ${why} (password policy; value not shown: it is a secret)`,
  );
}

/** A unique-key clash, as the database or `createAccount` reports it. */
function isDuplicate(error: unknown): boolean {
  return (
    databaseFailureOf(error) === 'duplicate' || (error instanceof DomainError && error.code === 'CONFLICT')
  );
}

/** Decides and performs the bootstrap inside `transaction`. */
async function bootstrapIn(db: Database, config: Config, transaction: Transaction): Promise<BootstrapResult> {
  const { username, email, password } = config.admin;
  const name = username ?? 'admin';
  const existing = await usersRepo.findByUsernameKey(db, name.toLowerCase(), { tx: transaction });
  if (password) {
    if (existing) return { kind: 'kept', username: existing.username, role: existing.role };
    const account = { username: name, email: email ?? `${name}@hdms.local` };
    checkAdminPassword(password, account, config);
    await createAccount(db, { ...account, password, role: 'admin' }, transaction);
    return { kind: 'configured', username: name };
  }
  if (await usersRepo.findAnyWithRole(db, 'admin', { tx: transaction })) return { kind: 'none' };
  if (existing) {
    throw new Error(
      `cannot create the first admin: the username "${existing.username}" belongs to a ${existing.role} ` +
        'account; set ADMIN_USERNAME to another name',
    );
  }
  const account = { username: name, email: email ?? `${name}@hdms.local` };
  const generated = generatePassword(account);
  await createAccount(db, { ...account, password: generated, role: 'admin' }, transaction);
  return { kind: 'generated', username: name, password: generated };
}
