import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';

/** What `loadDotEnv` did: the file it read (null when there is none) and the variables it set. */
export interface DotEnv {
  file: string | null;
  /** Names taken from the file; a name the environment already had is not among them. */
  applied: string[];
  /** True when the environment says NODE_ENV=test: no .env is read then. */
  skipped: boolean;
}

/**
 * Reads `.env` in the working directory (`cwd`) into `target` (the process environment), for the
 * entry points only (`npm start`, the migration and admin commands): each calls this first, then
 * `loadConfig()`. A variable set in the environment wins over the file. No file is no error; an
 * unreadable one is (its message names it). The syntax is Node's own (`util.parseEnv`, as
 * `node --env-file`): `NAME=value`, `# comments`, quotes, `export NAME=value`. With NODE_ENV=test
 * in the environment nothing is read: the suites' server processes start in the repository root,
 * and a developer's `.env` there must not change what they test.
 */
export function loadDotEnv(
  target: Record<string, string | undefined> = process.env,
  cwd = process.cwd(),
): DotEnv {
  if (target.NODE_ENV === 'test') return { file: null, applied: [], skipped: true };
  const file = resolve(cwd, '.env');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { file: null, applied: [], skipped: false };
    throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
  }
  const applied: string[] = [];
  for (const [name, value] of Object.entries(parseEnv(text))) {
    if (target[name] !== undefined) continue;
    target[name] = value;
    applied.push(name);
  }
  return { file, applied, skipped: false };
}
