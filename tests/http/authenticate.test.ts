import { type Database, migrateToLatest } from '@hdms/db';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount, newServiceToken, SessionManager, sha256Hex } from '../../server/src/auth/index';
import type { Actor, AppEnv, AppServices } from '../../server/src/context';
import { authenticate } from '../../server/src/http/middleware/authenticate';
import { createLogger } from '../../server/src/logger';
import { openFreshDatabase, type TestDatabase } from '../helpers/db';

/*
 * authenticate alone on a bare app, on a fresh database of this project's kind: who the
 * Authorization header or the session cookie names, and why a credential was refused.
 */

describe('authenticate', () => {
  let db: Database;
  let target: TestDatabase;
  let sessions: SessionManager;
  let userId: number;
  let sessionToken: string;
  let serviceToken: string;
  let revokedToken: string;

  beforeAll(async () => {
    ({ db, target } = await openFreshDatabase());
    await migrateToLatest(db.sequelize);
    sessions = new SessionManager(db, { idleMinutes: 30, maxHours: 12, secureCookie: false });
    const user = await createAccount(db, {
      username: 'dr_auth',
      email: 'dr_auth@example.org',
      password: 'dr-auth-password',
      role: 'doctor',
    });
    userId = user.id;
    sessionToken = (await sessions.create(userId)).token;
    const tokenRow = (name: string, token: string, revokedAt: Date | null) =>
      db.models.ServiceToken.create({
        name,
        tokenHash: sha256Hex(token),
        tokenPrefix: token.slice(0, 12),
        scopes: ['doctors:read'],
        expiresAt: new Date(Date.now() + 3_600_000),
        createdByUserId: userId,
        revokedAt,
      });
    serviceToken = newServiceToken();
    await tokenRow('reporting', serviceToken, null);
    revokedToken = newServiceToken();
    await tokenRow('retired', revokedToken, new Date());
  });
  afterAll(async () => {
    await db?.close();
    await target?.drop();
  });

  /** A bare app: the variables requestContext would set, then authenticate, then a handler showing the result. */
  function bareApp(services: Pick<AppServices, 'db' | 'sessions'> = { db, sessions }) {
    const app = new Hono<AppEnv>();
    app.use(async (c, next) => {
      c.set('requestId', 'req-1');
      c.set('services', { db, sessions, logger: createLogger('silent') } as AppServices);
      c.set('actor', null);
      c.set('refusal', null);
      await next();
    });
    app.use(authenticate({ services }));
    app.all('*', (c) => c.json({ actor: c.get('actor'), refusal: c.get('refusal') }));
    return app;
  }

  const caller = async (
    headers: Record<string, string>,
  ): Promise<{ status: number; actor: Actor | null; refusal: string | null }> => {
    const res = await bareApp().request('/anything', { headers });
    return { status: res.status, ...(await res.json()) };
  };

  it('without credentials: no one, and no refusal', async () => {
    expect(await caller({})).toEqual({ status: 200, actor: null, refusal: null });
  });

  it('a session token as Authorization: Bearer is its user', async () => {
    const { status, actor, refusal } = await caller({ authorization: `Bearer ${sessionToken}` });
    expect(status).toBe(200);
    expect(refusal).toBeNull();
    expect(actor).toMatchObject({
      type: 'user',
      id: userId,
      username: 'dr_auth',
      role: 'doctor',
      sessionToken,
    });
  });

  it('the session cookie is its user too', async () => {
    const { actor } = await caller({ cookie: `theme=dark; hdms_session=${sessionToken}` });
    expect(actor).toMatchObject({ type: 'user', id: userId, sessionToken });
  });

  it('a bearer token is the credential when both are sent', async () => {
    const result = await caller({
      authorization: 'Bearer no-such-session',
      cookie: `hdms_session=${sessionToken}`,
    });
    expect(result).toEqual({ status: 200, actor: null, refusal: 'Your session has ended; sign in again' });
  });

  it('an unknown session cookie is no one, with the refusal the procedures will answer', async () => {
    expect(await caller({ cookie: 'hdms_session=no-such-session' })).toEqual({
      status: 200,
      actor: null,
      refusal: 'Your session has ended; sign in again',
    });
  });

  it('a service token is its service, with its scopes', async () => {
    const { actor, refusal } = await caller({ authorization: `Bearer ${serviceToken}` });
    expect(refusal).toBeNull();
    expect(actor).toMatchObject({ type: 'service', name: 'reporting', scopes: ['doctors:read'] });
  });

  it('a revoked or unknown service token is no one, told why', async () => {
    expect(await caller({ authorization: `Bearer ${revokedToken}` })).toEqual({
      status: 200,
      actor: null,
      refusal: 'This service token has been revoked',
    });
    expect(await caller({ authorization: `Bearer ${newServiceToken()}` })).toEqual({
      status: 200,
      actor: null,
      refusal: 'This service token is not valid',
    });
  });

  it('a failure to check the credentials is answered as REST errors are, and the handler never runs', async () => {
    const failing = {
      db,
      sessions: {
        readBearer: (header: string | undefined) => sessions.readBearer(header),
        readCookie: (header: string | undefined) => sessions.readCookie(header),
        validate: async () => {
          throw new Error('the session store is broken');
        },
      } as unknown as SessionManager,
    };
    const res = await bareApp(failing).request('/anything', {
      headers: { authorization: `Bearer ${sessionToken}` },
    });
    const body = await res.json();
    expect(res.status).toBe(500);
    expect(body).toEqual({ error: 'Internal server error' });
  });
});
