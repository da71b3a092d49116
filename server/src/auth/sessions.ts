import type { Database, Role } from '@hdms/db';
import { Lucia, TimeSpan } from 'lucia';
import { RepositorySessionAdapter } from './adapter';
import { newSessionToken } from './tokens';

/** The account fields every request's actor carries (`sessionsRepo.SESSION_USER_FIELDS`), read with the session. */
export interface SessionUserAttributes {
  role: Role;
  username: string;
  email: string;
  doctorId: number | null;
  patientId: number | null;
  /** Whether the account's second factor (MFA) is on. */
  mfaEnabled: boolean;
  /**
   * With read replicas: the position this account's reads wait for (read-your-writes), read with
   * the session; null without replicas or before the account's first recorded commit.
   */
  readAfter: string | null;
}

/** What lucia keeps with a session besides its expiry: when it began (for the absolute limit). */
export interface SessionAttributes {
  createdAt: Date;
}

declare module 'lucia' {
  interface Register {
    Lucia: Lucia<SessionAttributes, SessionUserAttributes>;
    UserId: number;
    DatabaseSessionAttributes: SessionAttributes;
    DatabaseUserAttributes: SessionUserAttributes;
  }
}

/** The signed-in user a valid session belongs to. */
export interface SessionUser extends SessionUserAttributes {
  id: number;
}

/** A valid session: its token, its current expiry and its user. */
export interface ValidSession {
  token: string;
  expiresAt: Date;
  user: SessionUser;
}

/** The name of the browser cookie that carries the session token. */
export const SESSION_COOKIE = 'hdms_session';

/** How stale a session's idle deadline may get before a request pushes it back (one write a minute). */
const EXTEND_EVERY_MS = 60_000;

/**
 * Sessions: the one owner of lucia (v3). Who does what:
 * - lucia: starting a session, looking a token up through our adapter (which stores only the
 *   token's SHA-256 and reads the user in the same query), the idle expiry check, ending one or
 *   all sessions of a user, and reading and writing the cookie;
 * - this class: the policy lucia has no setting for: the idle deadline moves on every use, to the
 *   minute (lucia would wait until half the idle time had passed), the absolute lifetime
 *   (`maxHours` after sign-in), and the cookie's Max-Age (the absolute lifetime).
 */
export class SessionManager {
  private readonly lucia: Lucia<SessionAttributes, SessionUserAttributes>;
  private readonly adapter: RepositorySessionAdapter;
  private readonly idleMs: number;
  private readonly maxMs: number;

  /**
   * `positions`: read the account's commit positions with the session (read replicas are on:
   * `sessionsRepo.findWithUser`).
   */
  constructor(
    db: Database,
    options: { idleMinutes: number; maxHours: number; secureCookie: boolean; positions?: boolean },
  ) {
    this.idleMs = options.idleMinutes * 60_000;
    this.maxMs = options.maxHours * 3_600_000;
    this.adapter = new RepositorySessionAdapter(db, options.positions ?? false);
    this.lucia = new Lucia(this.adapter, {
      sessionExpiresIn: new TimeSpan(options.idleMinutes, 'm'),
      sessionCookie: {
        name: SESSION_COOKIE,
        expires: false,
        attributes: { sameSite: 'lax', secure: options.secureCookie, path: '/' },
      },
      getSessionAttributes: (attributes) => ({ createdAt: attributes.createdAt }),
      getUserAttributes: (attributes) => attributes,
    });
  }

  /** Starts a session with a new random token. */
  async create(userId: number): Promise<{ token: string; expiresAt: Date }> {
    const session = await this.lucia.createSession(
      userId,
      { createdAt: new Date() },
      { sessionId: newSessionToken() },
    );
    return { token: session.id, expiresAt: session.expiresAt };
  }

  /**
   * The session a token names, or null if it is unknown, expired (idle or absolute) or its
   * account is disabled. A valid session's idle deadline moves to `idleMinutes` from now.
   */
  async validate(token: string): Promise<ValidSession | null> {
    const { session, user } = await this.lucia.validateSession(token);
    if (!session) return null;
    const now = Date.now();
    if (now - session.createdAt.getTime() >= this.maxMs) {
      await this.lucia.invalidateSession(token);
      return null;
    }
    let expiresAt = session.expiresAt;
    if (expiresAt.getTime() - now < this.idleMs - EXTEND_EVERY_MS) {
      expiresAt = new Date(now + this.idleMs);
      await this.adapter.updateSessionExpiration(token, expiresAt);
    }
    return { token, expiresAt, user };
  }

  /** Ends one session. */
  invalidate(token: string): Promise<void> {
    return this.lucia.invalidateSession(token);
  }

  /** Ends every session of a user (password change, disabled account). */
  invalidateUser(userId: number): Promise<void> {
    return this.lucia.invalidateUserSessions(userId);
  }

  /** Removes expired sessions from the database. */
  purgeExpired(): Promise<void> {
    return this.lucia.deleteExpiredSessions();
  }

  /** The session token from an `Authorization: Bearer` header, if any. */
  readBearer(header: string | undefined): string | null {
    return header ? this.lucia.readBearerToken(header) : null;
  }

  /** The session token from a `Cookie` header, if any. */
  readCookie(header: string | undefined): string | null {
    return header ? this.lucia.readSessionCookie(header) : null;
  }

  /**
   * A `Set-Cookie` value carrying the token: lucia's session cookie (HttpOnly, SameSite=Lax,
   * Secure in production), kept by the browser no longer than the session's absolute lifetime.
   */
  cookieFor(token: string): string {
    const cookie = this.lucia.createSessionCookie(token);
    cookie.attributes.maxAge = Math.floor(this.maxMs / 1000);
    return cookie.serialize();
  }

  /** A `Set-Cookie` value that clears the session cookie. */
  blankCookie(): string {
    return this.lucia.createBlankSessionCookie().serialize();
  }
}
