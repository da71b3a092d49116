import type { Database, Role } from '@hdms/db';
import { Cookie, Lucia, TimeSpan } from 'lucia';
import { SequelizeSessionAdapter } from './adapter';
import { newSessionToken } from './tokens';

interface UserAttributes {
  role: Role;
  username: string;
  email: string;
  doctorId: number | null;
  patientId: number | null;
}

declare module 'lucia' {
  interface Register {
    Lucia: Lucia<{ createdAt: Date }, UserAttributes>;
    UserId: number;
    DatabaseSessionAttributes: { createdAt: Date };
    DatabaseUserAttributes: UserAttributes;
  }
}

/** The signed-in user a valid session belongs to. */
export interface SessionUser extends UserAttributes {
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
 * Sessions, behind lucia v3: the only module that touches lucia. Sessions expire after
 * `idleMinutes` without use (each use pushes the deadline back, to the minute) and `maxHours`
 * after sign-in, whatever happens.
 */
export class SessionManager {
  private readonly lucia: Lucia<{ createdAt: Date }, UserAttributes>;
  private readonly adapter: SequelizeSessionAdapter;
  private readonly idleMs: number;
  private readonly maxMs: number;
  private readonly secureCookie: boolean;

  constructor(db: Database, options: { idleMinutes: number; maxHours: number; secureCookie: boolean }) {
    this.idleMs = options.idleMinutes * 60_000;
    this.maxMs = options.maxHours * 3_600_000;
    this.secureCookie = options.secureCookie;
    this.adapter = new SequelizeSessionAdapter(db);
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
   * The session a token names, or null if it is unknown, expired or its account is disabled. A
   * valid session's idle deadline moves to `idleMinutes` from now (lucia alone would wait until
   * half of it had passed, ending sessions after as little as half the idle time).
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
    const { id, role, username, email, doctorId, patientId } = user;
    return { token, expiresAt, user: { id, role, username, email, doctorId, patientId } };
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
   * A `Set-Cookie` value carrying the token: HttpOnly, SameSite=Lax, Secure in production, and
   * kept by the browser no longer than the session's absolute lifetime.
   */
  cookieFor(token: string): string {
    return new Cookie(SESSION_COOKIE, token, {
      httpOnly: true,
      sameSite: 'lax',
      secure: this.secureCookie,
      path: '/',
      maxAge: Math.floor(this.maxMs / 1000),
    }).serialize();
  }

  /** A `Set-Cookie` value that clears the session cookie. */
  blankCookie(): string {
    return this.lucia.createBlankSessionCookie().serialize();
  }
}
