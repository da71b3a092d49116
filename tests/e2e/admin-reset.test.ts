import { once } from 'node:events';
import { createDatabase, type Database, migrateToLatest } from '@hdms/db';
import { describe, expect, it } from 'vitest';
import { createAccount } from '../../server/src/auth/accounts';
import { verifyPassword } from '../../server/src/auth/password';
import { freshDatabase, type TestDatabase } from '../helpers/db';
import { http } from '../helpers/server';
import { runToExit, startServerProcess } from '../helpers/serverProcess';

/** The recovery command behind `npm run admin:reset-password`. */
const ADMIN_COMMAND = ['--import', 'tsx', 'server/src/admin.ts'];

/** Runs the reset command: `admin.ts reset-password [username]`. */
const resetPassword = (url: string, ...username: string[]) =>
  runToExit([...ADMIN_COMMAND, 'reset-password', ...username], { DATABASE_URL: url });

/** Opens a fresh, migrated SQLite database for the command to work on. */
async function migratedDatabase(): Promise<{ target: TestDatabase; db: Database }> {
  const target = await freshDatabase('sqlite');
  const db = await createDatabase(target.url);
  await migrateToLatest(db.sequelize);
  return { target, db };
}

/** The lines of `text` that are not blank. */
const lines = (text: string) => text.split('\n').filter((line) => line.trim() !== '');

const login = (url: string, username: string, password: string) =>
  http(url, 'POST', '/login', { body: { username, password } });

describe('admin:reset-password', () => {
  it('gives the admin a new one-time password and ends its sessions on the running server', async () => {
    const target = await freshDatabase('sqlite');
    const server = await startServerProcess({ DATABASE_URL: target.url });
    try {
      const oldPassword = /password: (\S+)/.exec(server.stdout())![1]!;
      const signedIn = await login(server.url, 'admin', oldPassword);
      expect(signedIn.status).toBe(200);
      const token: string = signedIn.body.token;
      expect((await http(server.url, 'GET', '/doctors', { token })).status).toBe(200);

      const reset = await resetPassword(target.url);
      expect(reset.code).toBe(0);
      expect(reset.out).toContain('username: admin');
      expect(reset.out.match(/password: /g)).toHaveLength(1);
      const newPassword = /password: (\S+)/.exec(reset.out)![1]!;
      expect(newPassword).not.toBe(oldPassword);
      expect(newPassword.length).toBeGreaterThanOrEqual(20);

      expect((await http(server.url, 'GET', '/doctors', { token })).status).toBe(401);
      expect((await login(server.url, 'admin', oldPassword)).status).toBe(401);
      const again = await login(server.url, 'admin', newPassword);
      expect(again.status).toBe(200);
      expect(again.body.user.role).toBe('admin');
    } finally {
      server.child.kill('SIGTERM');
      await once(server.child, 'exit');
      await target.drop();
    }
  }, 60_000);

  it('resets the admin named on the npm command line, enables it again and lifts its sign-in throttle', async () => {
    const { target, db } = await migratedDatabase();
    try {
      // The stored account as a model instance (createAccount answers a plain row).
      const chief = (await db.models.User.findByPk(
        (
          await createAccount(db, {
            username: 'chief',
            email: 'chief@example.org',
            password: 'orchard-compass-17',
            role: 'admin',
          })
        ).id,
      ))!;
      await chief.update({ disabledAt: new Date() });
      await db.models.Session.create({
        id: 'a'.repeat(64),
        userId: chief.id,
        expiresAt: new Date(Date.now() + 60_000),
      });
      await db.models.ThrottleCounter.create({
        key: 'f'.repeat(64),
        kind: 'account',
        userId: chief.id,
        address: null,
        count: 1000,
        blockedUntil: null,
        expiresAt: new Date(Date.now() + 3_600_000),
      });

      const reset = await runToExit(
        ['run', '--silent', 'admin:reset-password', '--', 'chief'],
        { DATABASE_URL: target.url },
        'npm',
      );
      expect(reset.code).toBe(0);
      expect(reset.out).toContain('enabled again');
      const password = /password: (\S+)/.exec(reset.out)![1]!;

      await chief.reload();
      expect(chief.disabledAt).toBeNull();
      expect(await verifyPassword(chief.passwordHash, password)).toBe(true);
      expect(await db.models.Session.count({ where: { userId: chief.id } })).toBe(0);
      expect(await db.models.ThrottleCounter.count({ where: { userId: chief.id } })).toBe(0);
    } finally {
      await db.close();
      await target.drop();
    }
  }, 60_000);

  it('refuses an unknown account with exit code 1 and one line naming it', async () => {
    const target = await freshDatabase('sqlite');
    try {
      const reset = await resetPassword(target.url, 'nobody');
      expect(reset.code).toBe(1);
      expect(reset.out).toBe('');
      expect(lines(reset.err)).toEqual(['No account "nobody" exists: nothing was changed.']);
    } finally {
      await target.drop();
    }
  });

  it('refuses an account that is not an admin and leaves its password alone', async () => {
    const { target, db } = await migratedDatabase();
    try {
      // The stored account as a model instance (createAccount answers a plain row).
      const patient = (await db.models.User.findByPk(
        (
          await createAccount(db, {
            username: 'pat',
            email: 'pat@example.org',
            password: 'patient-password-1',
            role: 'patient',
          })
        ).id,
      ))!;
      const reset = await resetPassword(target.url, 'pat');
      expect(reset.code).toBe(1);
      expect(reset.out).toBe('');
      const [line, ...more] = lines(reset.err);
      expect(more).toEqual([]);
      expect(line).toMatch(/^"pat" is a patient account, not an admin/);
      await patient.reload();
      expect(await verifyPassword(patient.passwordHash, 'patient-password-1')).toBe(true);
    } finally {
      await db.close();
      await target.drop();
    }
  });

  it('names DATABASE_URL without its password when the database is unreachable', async () => {
    const reset = await resetPassword('mysql://root:s3cret@127.0.0.1:1/hdms');
    expect(reset.code).toBe(1);
    const [line, ...more] = lines(reset.err);
    expect(more).toEqual([]);
    expect(line).toMatch(/DATABASE_URL mysql:\/\/root:\*\*\*@127\.0\.0\.1:1\/hdms: .*ECONNREFUSED/);
    expect(reset.out + reset.err).not.toContain('s3cret');
  });

  it('prints its usage and exits 2 for an unknown command', async () => {
    const reset = await runToExit([...ADMIN_COMMAND, 'frobnicate'], {});
    expect(reset.code).toBe(2);
    const [first, second, ...commands] = lines(reset.err);
    expect(first).toBe('Unknown command "frobnicate".');
    expect(second).toMatch(/^Usage: npm run admin -- <command>/);
    expect(commands.join('\n')).toMatch(/reset-password[\s\S]*reset-mfa/);
  });
});
