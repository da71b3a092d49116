import type { Hono } from 'hono';
import type { AppEnv } from '../context';

/** REST endpoints of the `serviceTokens` domain. */
export function serviceTokensRoutes(_app: Hono<AppEnv>): void {}
