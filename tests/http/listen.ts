import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Hono } from 'hono';
import type { AppEnv } from '../../server/src/context';

/** A bare app served on a real socket (127.0.0.1, a free port), for what needs one. */
export interface Listening {
  url: string;
  close(): Promise<void>;
}

/**
 * Serves `app` with `@hono/node-server` as the server does (Node's request in `c.env.incoming`,
 * `getConnInfo` working), on a free port of 127.0.0.1.
 */
export function listen(app: Hono<AppEnv>): Promise<Listening> {
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
      resolve({
        url: `http://127.0.0.1:${info.port}`,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            if ('closeAllConnections' in server) server.closeAllConnections();
          }),
      });
    });
  });
}
