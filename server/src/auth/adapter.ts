import type { Database } from '@hdms/db';
import { Op, selectRows, toDate } from '@hdms/db';
import type { Adapter, DatabaseSession, DatabaseUser } from 'lucia';
import { SESSION_USER_FIELDS } from './sessions';
import { sha256Hex } from './tokens';

/** A session and its user (the user's columns null if the account is gone), as one SELECT reads them. */
interface SessionRow {
  userId: number;
  expiresAt: Date | string;
  createdAt: Date | string;
  id: number | null;
  disabledAt: Date | string | null;
  role: string | null;
  username: string | null;
  email: string | null;
  doctorId: number | null;
  patientId: number | null;
}

/** The session by its token's hash, and the fields of its user a request needs (never the password hash). */
const SESSION_AND_USER =
  'SELECT s.user_id AS userId, s.expires_at AS expiresAt, s.created_at AS createdAt, u.id AS id, ' +
  'u.disabled_at AS disabledAt, u.role AS role, u.username AS username, u.email AS email, ' +
  'u.doctor_id AS doctorId, u.patient_id AS patientId ' +
  'FROM sessions s LEFT JOIN users u ON u.id = s.user_id WHERE s.id = ?';

/**
 * lucia's storage on our Sequelize models. lucia hands us the session id (the token); only its
 * SHA-256 reaches the database. A session and its user are read in one query, with only the
 * fields a request needs (never the password hash). Sessions of disabled accounts are answered
 * as absent, so lucia deletes them.
 */
export class SequelizeSessionAdapter implements Adapter {
  constructor(private readonly db: Database) {}

  async getSessionAndUser(sessionId: string): Promise<[DatabaseSession | null, DatabaseUser | null]> {
    // Every request runs this: one statement, written out, reading no instance.
    const [row] = await selectRows<SessionRow>(this.db, SESSION_AND_USER, [sha256Hex(sessionId)]);
    if (!row) return [null, null];
    const session: DatabaseSession = {
      id: sessionId,
      userId: row.userId,
      expiresAt: toDate(row.expiresAt) as Date,
      attributes: { createdAt: toDate(row.createdAt) as Date },
    };
    if (row.id === null || row.disabledAt !== null) return [session, null];
    const attributes = Object.fromEntries(SESSION_USER_FIELDS.map((f) => [f, row[f] ?? null]));
    return [session, { id: row.id, attributes: attributes as unknown as DatabaseUser['attributes'] }];
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
