import { randomBytes } from 'node:crypto';
import type { Database } from '@hdms/db';
import type { Config } from '../env';
import type { Logger } from '../logger';
import { createAccount, findAccount } from './accounts';

/** What the admin bootstrap did, for the start-up banner. */
export type BootstrapResult =
  | { kind: 'none' }
  | { kind: 'configured'; username: string }
  | { kind: 'generated'; username: string; password: string };

/**
 * The contract's admin bootstrap. With ADMIN_USERNAME/EMAIL/PASSWORD set, that admin is created
 * unless the account exists. Otherwise, when no admin exists at all, user `admin` is created with
 * a random password that the caller prints once; later starts find the admin and print nothing.
 */
export async function bootstrapAdmin(db: Database, config: Config, logger: Logger): Promise<BootstrapResult> {
  const { username, email, password } = config.admin;
  if (password) {
    const name = username ?? 'admin';
    if (await findAccount(db, name)) return { kind: 'none' };
    await createAccount(db, {
      username: name,
      email: email ?? `${name}@hdms.local`,
      password,
      role: 'admin',
    });
    logger.info({ username: name }, 'admin account created from ADMIN_* settings');
    return { kind: 'configured', username: name };
  }
  if (await db.models.User.findOne({ where: { role: 'admin' } })) return { kind: 'none' };
  const name = username ?? 'admin';
  const generated = randomBytes(18).toString('base64url');
  await createAccount(db, {
    username: name,
    email: email ?? `${name}@hdms.local`,
    password: generated,
    role: 'admin',
  });
  logger.info({ username: name }, 'admin account created with a generated password');
  return { kind: 'generated', username: name, password: generated };
}
