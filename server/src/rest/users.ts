import type { Hono } from 'hono';
import type { AppEnv } from '../context';

/** REST endpoints of the `users` domain. */
export function usersRoutes(_app: Hono<AppEnv>): void {}
