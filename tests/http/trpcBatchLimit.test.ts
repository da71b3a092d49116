import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AppEnv } from '../../server/src/context';
import { trpcBatchLimit } from '../../server/src/http/middleware/trpcBatchLimit';

/* trpcBatchLimit alone on a bare app, mounted on /trpc/* as app.ts mounts it. */

function bareApp(maxCalls: number) {
  const reached: string[] = [];
  const app = new Hono<AppEnv>();
  app.use('/trpc/*', trpcBatchLimit({ maxCalls }));
  app.all('/trpc/*', (c) => {
    reached.push(c.req.path);
    return c.json({ ok: true });
  });
  return { app, reached };
}

const batch = (calls: number) =>
  `/trpc/${Array.from({ length: calls }, (_, i) => `doctors.p${i}`).join(',')}`;

describe('trpcBatchLimit', () => {
  it('lets a single call and a batch of up to maxCalls through', async () => {
    const { app, reached } = bareApp(3);
    expect((await app.request('/trpc/doctors.list')).status).toBe(200);
    expect((await app.request(`${batch(3)}?batch=1`)).status).toBe(200);
    expect((await app.request(batch(3), { method: 'POST' })).status).toBe(200);
    expect(reached).toEqual(['/trpc/doctors.list', batch(3), batch(3)]);
  });

  it('refuses a larger batch as a whole with 400 and a tRPC error naming the limit', async () => {
    const { app, reached } = bareApp(3);
    for (const method of ['GET', 'POST']) {
      const res = await app.request(`${batch(4)}?batch=1`, { method });
      expect(res.status, method).toBe(400);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(await res.json()).toEqual({
        error: {
          json: {
            message: 'A batch may hold at most 3 calls (this one has 4); split it',
            code: -32600,
            data: { code: 'BAD_REQUEST', httpStatus: 400 },
          },
        },
      });
    }
    expect(reached).toEqual([]);
  });

  it('counts the calls of the path, not of the query', async () => {
    const { app } = bareApp(1);
    expect((await app.request('/trpc/doctors.list?input=a,b,c,d')).status).toBe(200);
    const res = await app.request('/trpc/a,b');
    expect(res.status).toBe(400);
    expect(JSON.stringify(await res.json())).toMatch(/at most 1 calls \(this one has 2\)/);
  });
});
