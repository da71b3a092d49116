import type { Database } from '@hdms/db';
import { Op } from '@hdms/db';
import type { Adapter, DatabaseSession, DatabaseUser } from 'lucia';
import { SESSION_USER_FIELDS } from './sessions';
import { sha256Hex } from './tokens';

/**
 * lucia's storage on our Sequelize models. lucia hands us the session id (the token); only its
 * SHA-256 reaches the database. A session and its user are read in one query, with only the
 * fields a request needs (never the password hash). Sessions of disabled accounts are answered
 * as absent, so lucia deletes them.
 */
export class SequelizeSessionAdapter implements Adapter {
  constructor(private readonly db: Database) {}

  async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    const row = await this.db.models.Session.findByPk(sha256Hex(sessionId), {
      include: [{ association: 'user', attributes: ['id', 'disabledAt', ...SESSION_USER_FIELDS] }],
    });
    if (!row) return [null, null];
    const session: DatabaseSession = {
      id: sessionId,
      userId: row.userId,
      expiresAt: row.expiresAt,
      attributes: { createdAt: row.createdAt },
    };
    const user = row.user;
    if (!user || user.disabledAt) return [session, null];
    const attributes = Object.fromEntries(SESSION_USER_FIELDS.map((f) => [f, user[f] ?? null]));
    return [session, { id: user.id, attributes: attributes as unknown as DatabaseUser['attributes'] }];
  }

  async getUserSessions(userId: number): Promise<DatabaseSession[]> {
    const rows = await this.db.models.Session.findAll({ where: { userId } });
    return rows.map((row) => ({
      id: row.id,
      userId: row.userId,
      expiresAt: row.expiresAt,
      attributes: { createdAt: row.createdAt },
    }));
  }

  async setSession(session: DatabaseSession): Promise<void> {
    await this.db.models.Session.create({
      id: sha256Hex(session.id),
      userId: session.userId,
      expiresAt: session.expiresAt,
      createdAt: session.attributes.createdAt,
    });
  }

  async updateSessionExpiration(sessionId: string, expiresAt: Date): Promise<void> {
    await this.db.models.Session.update({ expiresAt }, { where: { id: sha256Hex(sessionId) } });
  }

  async deleteSession(sessionId: string): Promise<void> {
    await this.db.models.Session.destroy({ where: { id: sha256Hex(sessionId) } });
  }

  async deleteUserSessions(userId: number): Promise<void> {
    await this.db.models.Session.destroy({ where: { userId } });
  }

  async deleteExpiredSessions(): Promise<void> {
    await this.db.models.Session.destroy({ where: { expiresAt: { [Op.lte]: new Date() } } });
  }
}
