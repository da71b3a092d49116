import { createInterface, type Interface } from 'node:readline/promises';
import { Writable } from 'node:stream';
import { CliError, EXIT } from './errors';

/**
 * Asks for what a flag did not give (username, password, MFA code). On a terminal, a question on
 * stderr and the answer typed there, hidden for secrets. Otherwise (a pipe, a file) the answers
 * are stdin's lines, one per question, in order: `printf 'name\npass\n' | hdms login` (the
 * questions still go to stderr).
 */
export class Prompter {
  private lines: AsyncIterator<string> | null = null;
  private piped: Interface | null = null;

  /** The answer to `question`, without its line end; a usage error when stdin ends first. */
  async ask(question: string, options: { secret?: boolean; what: string }): Promise<string> {
    if (process.stdin.isTTY) return this.askTerminal(question, options.secret === true);
    if (!this.lines) {
      this.piped = createInterface({ input: process.stdin, terminal: false });
      this.lines = this.piped[Symbol.asyncIterator]();
    }
    process.stderr.write(question);
    const next = await this.lines.next();
    if (next.done) {
      throw new CliError(
        `stdin ended before the ${options.what}: pass it as a flag or on its own line`,
        EXIT.usage,
      );
    }
    return next.value;
  }

  /** Asks on the terminal; a secret's keystrokes are not echoed. */
  private async askTerminal(question: string, secret: boolean): Promise<string> {
    let muted = false;
    const output = new Writable({
      write(chunk, encoding, done) {
        if (!muted) process.stderr.write(chunk, encoding);
        done();
      },
    });
    const terminal = createInterface({ input: process.stdin, output, terminal: true });
    try {
      const answer = terminal.question(question);
      muted = secret;
      return await answer;
    } finally {
      if (muted) process.stderr.write('\n');
      terminal.close();
    }
  }

  /** Releases stdin. */
  close(): void {
    this.piped?.close();
  }
}

/** All of stdin as text, without its final line end (`--password-stdin`). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}
