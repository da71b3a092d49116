import type { Database } from '@hdms/db';
import { sessionsRepo } from '@hdms/db';
import type { Adapter, DatabaseSession, DatabaseUser } from 'lucia';
import { sha256Hex } from './tokens';

/**
 * lucia's storage on the sessions repository. lucia hands us the session id (the token); only its
 * SHA-256 reaches the database. A session and its user are read in one statement, with only the
 * fields a request needs (never the password hash). Sessions of disabled accounts are answered
 * as absent, so lucia deletes them.
 */
export class RepositorySessionAdapter implements Adapter {
  constructor(
    private readonly db: Database,
    /** Read the account's commit positions with the session (read replicas: `readAfter`). */
    private readonly positions = false,
  ) {}

  async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    // Every request runs this: one statement, written out, reading no instance.
    const found = await sessionsRepo.findWithUser(this.db, sha256Hex(sessionId), {
      positions: this.positions,
    });
    if (!found) return [null, null];
    const session: DatabaseSession = {
      id: sessionId,
      userId: found.session.userId,
      expiresAt: found.session.expiresAt,
      attributes: { createdAt: found.session.createdAt },
    };
    const { user } = found;
    if (user === null || user.disabledAt !== null) return [session, null];
    const attributes = Object.fromEntries([
      ...sessionsRepo.SESSION_USER_FIELDS.map((f) => [f, user[f]]),
      ['readAfter', found.readAfter],
    ]);
    return [session, { id: user.id, attributes: attributes as unknown as DatabaseUser['attributes'] }];
  }

  async getUserSessions(userId: number): Promise<DatabaseSession[]> {
    const rows = await sessionsRepo.listByUser(this.db, userId);
    return rows.map((row) => ({
      id: row.id,
      userId: row.userId,
      expiresAt: row.expiresAt,
      attributes: { createdAt: row.createdAt },
    }));
  }

  async setSession(session: DatabaseSession): Promise<void> {
    await sessionsRepo.insert(this.db, {
      id: sha256Hex(session.id),
      userId: session.userId,
      expiresAt: session.expiresAt,
      createdAt: session.attributes.createdAt,
    });
  }

  async updateSessionExpiration(sessionId: string, expiresAt: Date): Promise<void> {
    await sessionsRepo.setExpiry(this.db, sha256Hex(sessionId), expiresAt);
  }

  async deleteSession(sessionId: string): Promise<void> {
    await sessionsRepo.deleteById(this.db, sha256Hex(sessionId));
  }

  async deleteUserSessions(userId: number): Promise<void> {
    await sessionsRepo.deleteByUser(this.db, userId);
  }

  async deleteExpiredSessions(): Promise<void> {
    await sessionsRepo.deleteExpired(this.db, { now: new Date() });
  }
}
