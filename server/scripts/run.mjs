// `node server/scripts/run.mjs <command> [arguments]`: how the npm scripts run an operator command
// (`admin`, `migrate`, `seed`). With tsx installed (a full `npm install`), it runs the TypeScript
// source, server/src/<command>.ts; without it (`npm ci --omit=dev`, the Docker image) the compiled
// server/dist/<command>.js that `npm run build` made. It says which, in one line on stderr, then
// hands over: the command's standard streams, signals and exit code are its own.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const COMMANDS = ['admin', 'migrate', 'seed'];
const server = join(dirname(fileURLToPath(import.meta.url)), '..');
const root = join(server, '..');
const [command, ...args] = process.argv.slice(2);

if (!COMMANDS.includes(command)) {
  process.stderr.write(`run.mjs: unknown command "${command ?? ''}" (one of ${COMMANDS.join(', ')})\n`);
  process.exit(2);
}

/** tsx's loader, when tsx is installed; null when it is not (dev dependencies omitted). */
function tsxLoader() {
  try {
    return import.meta.resolve('tsx');
  } catch {
    return null;
  }
}

const source = join(server, 'src', `${command}.ts`);
const compiled = join(server, 'dist', `${command}.js`);
const loader = existsSync(source) ? tsxLoader() : null;
let nodeArgs;
if (loader) {
  process.stderr.write(`(running the TypeScript source ${relative(root, source)} with tsx)\n`);
  nodeArgs = ['--import', loader, source];
} else if (existsSync(compiled)) {
  process.stderr.write(`(running the compiled ${relative(root, compiled)}: tsx is not installed)\n`);
  nodeArgs = ['--enable-source-maps', compiled];
} else {
  process.stderr.write(
    `${relative(root, compiled)} does not exist and tsx is not installed: run npm run build first ` +
      '(or npm install, to run the TypeScript source).\n',
  );
  process.exit(1);
}

const child = spawn(process.execPath, [...nodeArgs, ...args], { stdio: 'inherit' });
// A signal sent to this process alone (kill <pid>) reaches the command too.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(signal, () => child.kill(signal));
}
child.on('exit', (code, signal) => {
  if (signal) {
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
