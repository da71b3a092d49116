import type { Database } from '@hdms/db';
import { Op } from '@hdms/db';
import type { Adapter, DatabaseSession, DatabaseUser } from 'lucia';
import { sha256Hex } from './tokens';

/**
 * lucia's storage on our Sequelize models. Lucia hands us the session id (the token); only its
 * SHA-256 reaches the database. Sessions of disabled accounts are answered as absent, so lucia
 * deletes them.
 */
export class SequelizeSessionAdapter implements Adapter {
  constructor(private readonly db: Database) {}

  async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    const { Session, User } = this.db.models;
    const row = await Session.findByPk(sha256Hex(sessionId));
    if (!row) return [null, null];
    const user = await User.findByPk(row.userId);
    const session: DatabaseSession = {
      id: sessionId,
      userId: row.userId,
      expiresAt: row.expiresAt,
      attributes: { createdAt: row.createdAt },
    };
    if (!user || user.disabledAt) return [session, null];
    return [
      session,
      {
        id: user.id,
        attributes: {
          role: user.role,
          username: user.username,
          email: user.email,
          doctorId: user.doctorId,
          patientId: user.patientId,
        },
      },
    ];
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
