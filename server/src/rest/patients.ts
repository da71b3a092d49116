import type { Hono } from 'hono';
import type { AppEnv } from '../context';

/** REST endpoints of the `patients` domain. */
export function patientsRoutes(_app: Hono<AppEnv>): void {}
