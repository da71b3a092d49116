import type { Hono } from 'hono';
import type { AppEnv } from '../context';

/** REST endpoints of the `checkHistory` domain. */
export function checkHistoryRoutes(_app: Hono<AppEnv>): void {}
