import type { Hono } from 'hono';
import type { AppEnv } from '../context';

/** REST endpoints of the `doctors` domain. */
export function doctorsRoutes(_app: Hono<AppEnv>): void {}
