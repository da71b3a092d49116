import type { Database } from '@hdms/db';
import { Op } from '@hdms/db';

/** How many failed sign-ins are tolerated within the window, per username and per client address. */
export const THROTTLE = { windowMinutes: 15, perUsername: 5, perIp: 20 } as const;

/**
 * Throttles sign-in by counting recent failures in the database, so that every server instance on
 * the same database counts the same failures.
 */
export class LoginThrottle {
  constructor(private readonly db: Database) {}

  private keys(subject: string, ip: string | null): string[] {
    const keys = [subject];
    if (ip) keys.push(`ip:${ip}`);
    return keys;
  }

  /**
   * Minutes until another attempt is allowed, or 0 when one is allowed now. `subject` names the
   * account tried (see `loginSubject`), `ip` the client address.
   */
  async blockedFor(subject: string, ip: string | null): Promise<number> {
    const since = new Date(Date.now() - THROTTLE.windowMinutes * 60_000);
    const { LoginFailure } = this.db.models;
    const [userKey, ipKey] = this.keys(subject, ip);
    const check = async (key: string | undefined, limit: number) => {
      if (!key) return 0;
      const rows = await LoginFailure.findAll({
        attributes: ['createdAt'],
        where: { key, createdAt: { [Op.gt]: since } },
        order: [['createdAt', 'DESC']],
        limit,
      });
      if (rows.length < limit) return 0;
      const oldest = rows[rows.length - 1]!.createdAt.getTime();
      return Math.max(1, Math.ceil((oldest + THROTTLE.windowMinutes * 60_000 - Date.now()) / 60_000));
    };
    return Math.max(await check(userKey, THROTTLE.perUsername), await check(ipKey, THROTTLE.perIp));
  }

  /** Counts one failed sign-in against the account and the address. */
  async recordFailure(subject: string, ip: string | null): Promise<void> {
    await this.db.models.LoginFailure.bulkCreate(this.keys(subject, ip).map((key) => ({ key })));
  }

  /** Forgets the account's failures after a successful sign-in, and old rows of everyone. */
  async recordSuccess(subject: string): Promise<void> {
    const { LoginFailure } = this.db.models;
    await LoginFailure.destroy({
      where: {
        [Op.or]: [
          { key: subject },
          { createdAt: { [Op.lt]: new Date(Date.now() - THROTTLE.windowMinutes * 60_000) } },
        ],
      },
    });
  }
}

/** The throttle key of a sign-in attempt: the account when it exists, else the name tried. */
export function loginSubject(userId: number | null, identifier: string): string {
  return userId === null ? `name:${identifier.toLowerCase()}` : `user:${userId}`;
}
