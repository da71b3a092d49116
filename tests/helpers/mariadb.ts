import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  accessSync,
  chownSync,
  constants,
  createWriteStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
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

/** A Galera cluster of our own: its nodes, started (the first bootstraps it). */
export interface GaleraCluster {
  nodes: MariadbNode[];
  /** Restarts a killed node so that it rejoins incrementally (`--wsrep-recover`, then its position). */
  rejoin(node: MariadbNode): Promise<void>;
  /** Resolves once `node` is synced (`wsrep_local_state` 4) and ready (`wsrep_ready` ON). */
  synced(node: MariadbNode, timeoutMs?: number): Promise<void>;
  remove(): Promise<void>;
}

/** Whether `node` answers as a synced, ready cluster member (HAProxy's health check asks the same). */
export async function isSynced(node: MariadbNode): Promise<boolean> {
  try {
    const rows = await node.query<{ Variable_name: string; Value: string }>(
      "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state', 'wsrep_ready')",
    );
    const status = new Map(rows.map((r) => [r.Variable_name, r.Value]));
    return status.get('wsrep_local_state') === '4' && status.get('wsrep_ready') === 'ON';
  } catch {
    return false;
  }
}

/**
 * Starts a `size`-node Galera cluster (Debian's galera-4, rsync state transfers) on free ports,
 * every node with `args` too. The first node bootstraps it; the others join one at a time. About
 * 25 s for three nodes.
 */
export async function startGaleraCluster(size: number, args: readonly string[] = []): Promise<GaleraCluster> {
  const ports = await freePorts(size * 3);
  const gcomm = (i: number) => ports[i * 3]!;
  const address = `gcomm://${Array.from({ length: size }, (_, i) => `127.0.0.1:${gcomm(i)}`).join(',')}`;
  const nodes: MariadbNode[] = [];
  const cluster: GaleraCluster = {
    nodes,
    async synced(node, timeoutMs = 90_000) {
      await waitFor(() => isSynced(node), { what: `${node.name} to be synced and ready`, timeoutMs });
    },
    async rejoin(node) {
      await node.start(['--wsrep-recover', '--skip-networking'], { ready: false });
      await waitFor(() => !node.running, { what: `${node.name} to recover its position`, timeoutMs: 60_000 });
      const log = readFileSync(join(node.dir, 'log'), 'utf8');
      const positions = [...log.matchAll(/Recovered position:?\s+([0-9a-f-]+:-?\d+)/g)];
      const position = positions.at(-1)?.[1];
      await node.start(position ? [`--wsrep_start_position=${position}`] : [], { ready: false });
      await cluster.synced(node);
    },
    async remove() {
      await Promise.all(nodes.map((node) => node.remove()));
    },
  };
  try {
    for (let i = 0; i < size; i++) {
      const node = await createMariadbNode(`galera${i + 1}`, [
        '--wsrep-on=ON',
        `--wsrep-provider=${GALERA_PROVIDER}`,
        '--wsrep-cluster-name=hdms_test',
        `--wsrep-cluster-address=${address}`,
        `--wsrep-node-name=galera${i + 1}`,
        `--wsrep-node-address=127.0.0.1:${gcomm(i)}`,
        `--wsrep-provider-options=gmcast.listen_addr=tcp://127.0.0.1:${gcomm(i)};ist.recv_addr=127.0.0.1:${ports[i * 3 + 1]};gcache.size=64M`,
        '--wsrep-sst-method=rsync',
        `--wsrep-sst-receive-address=127.0.0.1:${ports[i * 3 + 2]}`,
        '--binlog-format=ROW',
        '--innodb-autoinc-lock-mode=2',
        '--default-storage-engine=InnoDB',
        ...args,
      ]);
      nodes.push(node);
      await node.start(i === 0 ? ['--wsrep-new-cluster'] : [], { ready: false });
      await cluster.synced(node);
    }
  } catch (error) {
    await cluster.remove();
    throw error;
  }
  return cluster;
}

/** An HAProxy of our own in front of a cluster: one writer, the other nodes as backups. */
export interface Haproxy {
  port: number;
  url(database?: string): string;
  /** Each node's state as HAProxy's checks see it (`UP`, `DOWN`, …), by node name. */
  states(): Promise<Record<string, string>>;
  stop(): Promise<void>;
}

/**
 * The HAProxy configuration of README "Running on a cluster": TCP, the first node the writer and
 * the others backups (`server … backup`: one of them takes the writes only while the writer is
 * down), each checked every `interMs` by `check` (a script asking the node for
 * `wsrep_local_state` 4 and `wsrep_ready` ON: a plain `mysql-check` routes writes to a node not
 * yet ready), sessions on a node marked down shut at once.
 */
export function haproxyConfig(
  stats: string,
  port: number,
  nodes: readonly { name: string; port: number }[],
  check: string,
  interMs = 500,
): string {
  return [
    'global',
    '  maxconn 1000',
    '  external-check',
    '  insecure-fork-wanted',
    `  stats socket ${stats}`,
    'defaults',
    '  mode tcp',
    '  timeout connect 2s',
    '  timeout client 10m',
    '  timeout server 10m',
    'listen galera',
    `  bind 127.0.0.1:${port}`,
    '  option external-check',
    '  external-check path "/usr/bin:/bin"',
    `  external-check command ${check}`,
    '  default-server on-marked-down shutdown-sessions',
    ...nodes.map(
      (node, i) =>
        `  server ${node.name} 127.0.0.1:${node.port} check inter ${interMs} rise 2 fall 2${i === 0 ? '' : ' backup'}`,
    ),
    '',
  ].join('\n');
}

/** The health check HAProxy runs (`external-check`): arguments … <node address> <node port>. */
const CHECK_SCRIPT = `#!/bin/sh
# HAProxy external check: the node must be synced (wsrep_local_state 4) and ready (wsrep_ready ON).
out=$(/usr/bin/mariadb --connect-timeout=1 -h "$3" -P "$4" -uroot -N -B -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_local_state','wsrep_ready')" 2>/dev/null) || exit 1
echo "$out" | grep -q "wsrep_local_state.4" || exit 1
echo "$out" | grep -q "wsrep_ready.ON" || exit 1
exit 0
`;

/** Starts HAProxy in front of `nodes` (the first the writer) on a free port. */
export async function startHaproxy(nodes: readonly MariadbNode[]): Promise<Haproxy> {
  const dir = mkdtempSync(join(tmpdir(), 'hdms-haproxy-'));
  const check = join(dir, 'check.sh');
  writeFileSync(check, CHECK_SCRIPT, { mode: 0o755 });
  const [port] = (await freePorts(1)) as [number];
  const config = join(dir, 'haproxy.cfg');
  const stats = join(dir, 'stats.sock');
  writeFileSync(config, haproxyConfig(stats, port, nodes, check));
  const log = createWriteStream(join(dir, 'log'));
  const child = spawn('/usr/sbin/haproxy', ['-db', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = once(child, 'exit');
  const url = (database = 'hdms') => `mysql://root@127.0.0.1:${port}/${database}`;
  const proxy: Haproxy = {
    port,
    url,
    async states() {
      const text = await new Promise<string>((resolve, reject) => {
        const socket = connect(stats);
        let answer = '';
        socket.on('data', (chunk) => {
          answer += chunk;
        });
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
        socket.end('show stat\n');
      });
      const states: Record<string, string> = {};
      for (const line of text.split('\n')) {
        const columns = line.split(',');
        if (columns[0] === 'galera' && columns[1] && !['FRONTEND', 'BACKEND'].includes(columns[1]))
          states[columns[1]] = columns[17] ?? '';
      }
      return states;
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
  const writer = nodes[0]!.name;
  await waitFor(
    async () => {
      if (child.exitCode !== null) throw new Error(`haproxy exited; see ${join(dir, 'log')}`);
      return (await proxy.states().catch(() => ({}) as Record<string, string>))[writer] === 'UP';
    },
    { what: `haproxy's check to pass for ${writer}`, timeoutMs: 20_000 },
  );
  return proxy;
}

/** A primary and GTID replicas of our own, with a SELECT-only user on the replicas. */
export interface ReplicatedSet {
  primary: MariadbNode;
  replicas: MariadbNode[];
  /** `mysql://reader:…@127.0.0.1:<port>/<database>`: the SELECT-only user (granted on `database`). */
  readerUrl(database: string, port: number): string;
  /** Resolves once every replica has applied everything the primary has committed so far. */
  caughtUp(timeoutMs?: number): Promise<void>;
  remove(): Promise<void>;
}

/** A primary and one replica (`startReplicatedSet` with one). */
export interface ReplicatedPair extends Omit<ReplicatedSet, 'readerUrl'> {
  replica: MariadbNode;
  /** The reader's URL on the replica (or on `port`, e.g. a proxy in front of it). */
  readerUrl(database: string, port?: number): string;
  /** Stops (`false`) or restarts (`true`) the replica's SQL thread: it keeps receiving, applies nothing. */
  applying(on: boolean): Promise<void>;
}

const READER_PASSWORD = 'reader-pw-7Q';

/**
 * Starts a primary (binary log, server id 1) and `count` replicas (server ids 2…) replicating from
 * it by GTID (`MASTER_USE_GTID=slave_pos`), and creates on the primary (so it replicates) the user
 * `reader` with SELECT on `database` only: what `DATABASE_READ_URLS` should use.
 */
export async function startReplicatedSet(database: string, count: number): Promise<ReplicatedSet> {
  const primary = await createMariadbNode('primary', [
    '--server-id=1',
    '--log-bin=primary-bin',
    '--binlog-format=ROW',
  ]);
  const replicas: MariadbNode[] = [];
  for (let i = 0; i < count; i++) {
    replicas.push(await createMariadbNode(`replica${i + 1}`, [`--server-id=${i + 2}`, '--read-only=ON']));
  }
  const set: ReplicatedSet = {
    primary,
    replicas,
    readerUrl: (db, port) => `mysql://reader:${READER_PASSWORD}@127.0.0.1:${port}/${db}`,
    async caughtUp(timeoutMs = 30_000) {
      const [row] = await primary.query<{ pos: string }>('SELECT @@gtid_binlog_pos AS pos');
      for (const replica of replicas) {
        const [waited] = await replica.query<{ r: number }>('SELECT MASTER_GTID_WAIT(?, ?) AS r', [
          row?.pos ?? '',
          timeoutMs / 1000,
        ]);
        if (Number(waited?.r) !== 0)
          throw new Error(`${replica.name} did not reach ${row?.pos} within ${timeoutMs} ms`);
      }
    },
    async remove() {
      await Promise.all([primary, ...replicas].map((node) => node.remove()));
    },
  };
  try {
    await Promise.all([primary, ...replicas].map((node) => node.start()));
    await primary.query("CREATE USER 'repl'@'127.0.0.1' IDENTIFIED BY 'repl-pw'");
    await primary.query("GRANT REPLICATION SLAVE ON *.* TO 'repl'@'127.0.0.1'");
    await primary.query(`CREATE USER 'reader'@'%' IDENTIFIED BY '${READER_PASSWORD}'`);
    await primary.query(`GRANT SELECT ON \`${database}\`.* TO 'reader'@'%'`);
    for (const replica of replicas) {
      await replica.query(
        `CHANGE MASTER TO MASTER_HOST='127.0.0.1', MASTER_PORT=${primary.port}, MASTER_USER='repl', MASTER_PASSWORD='repl-pw', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1`,
      );
      await replica.query('START SLAVE');
    }
    await set.caughtUp();
  } catch (error) {
    await set.remove();
    throw error;
  }
  return set;
}

/** A primary and one GTID replica (`startReplicatedSet`), with the replica's SQL thread at hand. */
export async function startReplicatedPair(database: string): Promise<ReplicatedPair> {
  const set = await startReplicatedSet(database, 1);
  const replica = set.replicas[0]!;
  return {
    ...set,
    replica,
    readerUrl: (db, port = replica.port) => set.readerUrl(db, port),
    async applying(on) {
      await replica.query(on ? 'START SLAVE SQL_THREAD' : 'STOP SLAVE SQL_THREAD');
    },
  };
}
