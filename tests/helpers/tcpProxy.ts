import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';

/** One client connection and its upstream twin. */
interface Pair {
  client: Socket;
  upstream: Socket;
}

/**
 * A TCP proxy on 127.0.0.1 between a client and a server, for simulating database faults in tests
 * without touching the server: a frozen server (`stall`), dropped connections (`cut`) and a server
 * that accepts no connections (`refuse`).
 */
export interface TcpProxy {
  /** Always 127.0.0.1. */
  readonly host: string;
  /** The port the proxy listens on (a free one). */
  readonly port: number;
  /** `tcp://127.0.0.1:<port>`. */
  readonly url: string;
  /** `url` (e.g. a mysql:// URL) with its host and port replaced by the proxy's. */
  rewrite(url: string): string;
  /**
   * Stops forwarding bytes in both directions, keeping every socket open, as a frozen
   * (SIGSTOPped) server would; connections made meanwhile are accepted and stall too.
   */
  stall(): void;
  /** Forwards again, including whatever arrived while stalled. */
  resume(): void;
  /** Destroys every current connection, on both sides. */
  cut(): void;
  /** While on, every new connection is reset as soon as it is accepted. */
  refuse(on: boolean): void;
  /** How many client connections are open now. */
  readonly connections: number;
  /** Cuts every connection and stops listening. */
  close(): Promise<void>;
}

/** Starts a proxy forwarding to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>();
  let stalled = false;
  let refusing = false;

  const setFlowing = (pair: Pair, flowing: boolean) => {
    for (const socket of [pair.client, pair.upstream]) {
      if (flowing) socket.resume();
      else socket.pause();
    }
  };

  const server: Server = createServer((client) => {
    if (refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = tcpConnect(target.port, target.host);
    const pair: Pair = { client, upstream };
    pairs.add(pair);
    client.on('data', (chunk) => upstream.write(chunk));
    upstream.on('data', (chunk) => client.write(chunk));
    const end = () => {
      if (!pairs.delete(pair)) return;
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    setFlowing(pair, !stalled);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('the proxy has no TCP port');
  const port = address.port;

  const cut = () => {
    for (const pair of [...pairs]) {
      pairs.delete(pair);
      pair.client.destroy();
      pair.upstream.destroy();
    }
  };

  return {
    host: '127.0.0.1',
    port,
    url: `tcp://127.0.0.1:${port}`,
    rewrite(url) {
      const rewritten = new URL(url);
      rewritten.hostname = '127.0.0.1';
      rewritten.port = String(port);
      return rewritten.toString();
    },
    stall() {
      stalled = true;
      for (const pair of pairs) setFlowing(pair, false);
    },
    resume() {
      stalled = false;
      for (const pair of pairs) setFlowing(pair, true);
    },
    cut,
    refuse(on) {
      refusing = on;
    },
    get connections() {
      return pairs.size;
    },
    async close() {
      cut();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
