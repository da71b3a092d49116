import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../../context';

/** Options of `trpcBatchLimit`. */
export interface TrpcBatchLimitOptions {
  /** The most calls one batch may hold (MAX_BATCH_CALLS). */
  maxCalls: number;
}

/**
 * Mounted on `/trpc/*`: a batch of more than `maxCalls` procedures (`/trpc/a,b,c`) is refused as a
 * whole, before any of them runs, with 400 and a tRPC error body (`error.json` with code -32600,
 * `data.code` BAD_REQUEST, and a message naming the limit).
 */
export function trpcBatchLimit({ maxCalls }: TrpcBatchLimitOptions): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const calls = c.req.path.slice('/trpc/'.length).split(',').length;
    if (calls <= maxCalls) return next();
    const message = `A batch may hold at most ${maxCalls} calls (this one has ${calls}); split it`;
    return c.json(
      { error: { json: { message, code: -32600, data: { code: 'BAD_REQUEST', httpStatus: 400 } } } },
      400,
    );
  };
}
