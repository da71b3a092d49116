import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { childEnv, ROOT, runToExit } from '../helpers/serverProcess';

/*
 * Issue 22, point 6: the logger `npm start` makes writes readable lines on a terminal and JSON
 * lines anywhere else. A terminal is a pseudo-terminal from util-linux's `script`.
 */

const PROGRAM = [
  "const { createLogger } = await import('./server/src/logger.ts');",
  "const logger = createLogger('info', { pretty: process.env.PRETTY === '1' });",
  "logger.info({ job: 3, type: 'patient.export', outcome: 'succeeded', durationMs: 12 }, 'job succeeded');",
].join(' ');

/** Terminal colour codes (ESC [ … m). */
const ANSI_COLOUR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g');

const ARGS = ['--import', 'tsx', '--input-type=module', '-e', PROGRAM];

/** The program's output when its stdout is a terminal. */
function onTerminal(env: Record<string, string>): string {
  const command = [process.execPath, ...ARGS].map((arg) => `'${arg.replace(/'/g, `'\\''`)}'`).join(' ');
  return execFileSync('script', ['-qec', command, '/dev/null'], {
    cwd: ROOT,
    env: childEnv(env),
    encoding: 'utf8',
  }).replace(ANSI_COLOUR, '');
}

describe('logs for people', () => {
  it.skipIf(!existsSync('/usr/bin/script'))('are readable lines in development on a terminal', () => {
    const text = onTerminal({ PRETTY: '1' });
    expect(text).toMatch(/^\[\d\d:\d\d:\d\d\.\d{3}\] INFO: job succeeded\r?\n/);
    expect(text).toMatch(/job: 3/);
    expect(text).toMatch(/type: "patient.export"/);
    expect(text).not.toContain('{"level"');
  });

  it.skipIf(!existsSync('/usr/bin/script'))('stay JSON on a terminal when not asked (production)', () => {
    expect(JSON.parse(onTerminal({ PRETTY: '0' }).trim())).toMatchObject({
      level: 30,
      msg: 'job succeeded',
      job: 3,
    });
  });

  it('stay JSON lines when stdout is a pipe, even in development', async () => {
    const { code, out, err } = await runToExit(ARGS, { PRETTY: '1' });
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(JSON.parse(out.trim())).toMatchObject({ level: 30, msg: 'job succeeded', type: 'patient.export' });
  });
});
