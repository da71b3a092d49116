import { type Algorithm, hash, verify } from '@node-rs/argon2';
import { tooManyRequests } from '../domain/errors';

/** `Algorithm.Argon2id`: a const enum, which `verbatimModuleSyntax` cannot read from a .d.ts. */
const ARGON2ID = 2 as Algorithm;
const OPTIONS = { algorithm: ARGON2ID };

/** How many argon2 computations run at once, and how long one may wait for its turn. */
export interface HashingLimits {
  concurrency: number;
  maxWaitMs: number;
}

interface Waiter {
  start(): void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * A semaphore around argon2. Each hash takes one of libuv's few threadpool threads (and ~19 MiB)
 * for tens of milliseconds; unbounded, a burst of them starves everything else that needs the
 * pool (the database driver, file and DNS work) and every sign-in queues behind the burst. Here at
 * most `concurrency` run at once; sign-ins (`urgent`) go before registrations and password
 * changes; a computation that would wait longer than `maxWaitMs` is refused at once with
 * TOO_MANY_REQUESTS and a `Retry-After`, and one that has waited that long is refused then.
 */
class HashGate {
  private running = 0;
  private readonly urgent: Waiter[] = [];
  private readonly normal: Waiter[] = [];
  /** Recent duration of one computation (exponentially weighted), in ms. */
  private typicalMs = 50;

  constructor(private limits: HashingLimits) {}

  configure(limits: HashingLimits): void {
    this.limits = limits;
    this.pump();
  }

  async run<T>(work: () => Promise<T>, urgent: boolean): Promise<T> {
    if (
      this.running >= this.limits.concurrency ||
      this.urgent.length > 0 ||
      (!urgent && this.normal.length > 0)
    ) {
      await this.wait(urgent);
    } else {
      this.running++;
    }
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.typicalMs = 0.8 * this.typicalMs + 0.2 * (performance.now() - started);
      this.running--;
      this.pump();
    }
  }

  /** Milliseconds until a computation queued now would start. */
  private expectedWaitMs(urgent: boolean): number {
    const ahead = this.urgent.length + (urgent ? 0 : this.normal.length);
    return Math.ceil((ahead + 1) / this.limits.concurrency) * this.typicalMs;
  }

  private busy(): Error {
    const seconds = Math.max(1, Math.ceil((this.expectedWaitMs(false) + this.typicalMs) / 1000));
    return tooManyRequests('The server is busy checking passwords; try again in a moment', seconds);
  }

  private wait(urgent: boolean): Promise<void> {
    if (this.expectedWaitMs(urgent) > this.limits.maxWaitMs) return Promise.reject(this.busy());
    const queue = urgent ? this.urgent : this.normal;
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        start: () => {
          clearTimeout(waiter.timer);
          resolve();
        },
        timer: setTimeout(() => {
          const index = queue.indexOf(waiter);
          if (index >= 0) queue.splice(index, 1);
          reject(this.busy());
        }, this.limits.maxWaitMs),
      };
      queue.push(waiter);
    });
  }

  /** Starts queued computations while there is room: sign-ins first. */
  private pump(): void {
    while (this.running < this.limits.concurrency) {
      const next = this.urgent.shift() ?? this.normal.shift();
      if (!next) return;
      this.running++;
      next.start();
    }
  }
}

const gate = new HashGate({ concurrency: 2, maxWaitMs: 1500 });

/** What unknown users' passwords are checked against, made when the module loads. */
const dummyHash: Promise<string> = hash('not-a-real-password-0000', OPTIONS);

/**
 * Start-up hook: applies the server's hashing limits (PASSWORD_HASH_CONCURRENCY,
 * PASSWORD_HASH_MAX_WAIT_MS) and waits until the dummy hash exists, so that the first sign-in of
 * an unknown user takes as long as any other.
 */
export async function preparePasswordHashing(limits: HashingLimits): Promise<void> {
  gate.configure(limits);
  await dummyHash;
}

/**
 * Hashes a password with argon2id (the library's recommended cost), within the hashing limits:
 * TOO_MANY_REQUESTS (a `RetryLaterError`) when the server is too busy to start it soon.
 */
export function hashPassword(password: string): Promise<string> {
  return gate.run(() => hash(password, OPTIONS), false);
}

/**
 * Checks a password against a stored hash, ahead of queued `hashPassword` calls. With no hash
 * (unknown user) it still spends the same work on a dummy hash, so the answer takes as long
 * either way. TOO_MANY_REQUESTS when the server is too busy to check it soon.
 */
export async function verifyPassword(storedHash: string | null, password: string): Promise<boolean> {
  const against = storedHash ?? (await dummyHash);
  const valid = await gate.run(() => verify(against, password).catch(() => false), true);
  return storedHash !== null && valid;
}
