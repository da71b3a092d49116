import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, chownSync, constants, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'mysql2/promise';
import { waitFor } from './wait';

/*
 * MariaDB servers of a test's own, in temporary folders on free ports: never the shared server on
 * 3306. Each `mariadbd` runs as the `mysql` user (when the test runs as root: Galera's rsync state
 * transfer drops to an unprivileged user and cannot write a root-owned data folder). Kept small
 * (32 MB buffer pool) and killed when the test ends.
 */

const MARIADBD = '/usr/sbin/mariadbd';
const INSTALL_DB = '/usr/bin/mariadb-install-db';
/** Debian's `galera-4`. */
export const GALERA_PROVIDER = '/usr/lib/galera/libgalera_smm.so';

/** Why servers of our own cannot run here (a missing program), or null when they can. */
export function ownMariadbMissing(options: { galera?: boolean; haproxy?: boolean } = {}): string | null {
  const needed = [MARIADBD, INSTALL_DB];
  if (options.galera) needed.push(GALERA_PROVIDER, '/usr/bin/rsync');
  if (options.haproxy) needed.push('/usr/sbin/haproxy');
  for (const file of needed) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      return `${file} is missing (Debian: apt-get install -y mariadb-server galera-4 rsync haproxy)`;
    }
  }
  return null;
}

/** `count` distinct free TCP ports on 127.0.0.1. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = createServer();
      server.listen(0, '127.0.0.1');
      await once(server, 'listening');
      return server;
    }),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** One `mariadbd` of a test's own. */
export interface MariadbNode {
  readonly name: string;
  readonly dir: string;
  readonly port: number;
  /** `mysql://root@127.0.0.1:<port>/<database>` (root has no password on our own servers). */
  url(database?: string): string;
  /** Starts the server (with `extra` options after its own) and waits until it answers. */
  start(extra?: string[], options?: { ready?: boolean }): Promise<void>;
  /** Sends `signal` (SIGKILL by default) and waits for the process to end. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Runs one statement on a connection of its own; the rows. */
  query<Row = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<Row[]>;
  /** The end of the server's log (for failure messages). */
  readonly running: boolean;
  /** Kills the server (if running) and deletes its folder. */
  remove(): Promise<void>;
}

const asRoot = process.getuid?.() === 0;

/**
 * Makes a data folder (`mariadb-install-db`, root without a password) and returns the node, not
 * started. `args` are the server options every start gets (e.g. `--auto_increment_increment=3`).
 */
export async function createMariadbNode(name: string, args: readonly string[] = []): Promise<MariadbNode> {
  const dir = mkdtempSync(join(tmpdir(), `hdms-${name}-`));
  const datadir = join(dir, 'data');
  if (asRoot) chownSync(dir, uidOf('mysql'), gidOf('mysql'));
  execFileSync(
    INSTALL_DB,
    [
      ...(asRoot ? ['--user=mysql'] : []),
      `--datadir=${datadir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
    ],
    { stdio: 'ignore' },
  );
  const [port] = (await freePorts(1)) as [number];
  let child: ChildProcess | null = null;
  let exited: Promise<unknown> = Promise.resolve();

  const node: MariadbNode = {
    name,
    dir,
    port,
    url: (database = 'hdms') => `mysql://root@127.0.0.1:${port}/${database}`,
    get running() {
      return child !== null && child.exitCode === null && child.signalCode === null;
    },
    async start(extra = [], options = {}) {
      if (node.running) throw new Error(`${name} is running already`);
      const log = createWriteStream(join(dir, 'log'), { flags: 'a' });
      child = spawn(
        MARIADBD,
        [
          '--no-defaults',
          ...(asRoot ? ['--user=mysql'] : []),
          `--datadir=${datadir}`,
          `--port=${port}`,
          '--bind-address=127.0.0.1',
          `--socket=${join(dir, 'sock')}`,
          `--pid-file=${join(dir, 'pid')}`,
          '--skip-name-resolve',
          '--innodb-buffer-pool-size=32M',
          '--max-connections=200',
          ...args,
          ...extra,
        ],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
      child.stdout?.pipe(log);
      child.stderr?.pipe(log);
      exited = once(child, 'exit');
      if (options.ready === false) return;
      await waitFor(
        async () => {
          if (!node.running) throw new Error(`${name} exited while starting; see ${join(dir, 'log')}`);
          return node
            .query('SELECT 1')
            .then(() => true)
            .catch(() => false);
        },
        { what: `${name} to answer on port ${port}`, timeoutMs: 60_000 },
      );
    },
    async kill(signal = 'SIGKILL') {
      if (!node.running) return;
      child?.kill(signal);
      await exited;
    },
    async query<Row>(sql: string, values: unknown[] = []) {
      const connection = await createConnection({
        host: '127.0.0.1',
        port,
        user: 'root',
        connectTimeout: 2_000,
        multipleStatements: false,
      });
      try {
        const [rows] = await connection.query(sql, values);
        return rows as Row[];
      } finally {
        await connection.end().catch(() => undefined);
      }
    },
    async remove() {
      await node.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return node;
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}
function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}
