#!/usr/bin/env node
// The `hdms` command's launcher (the package's `bin`): it runs the built dist/cli.js. It exists
// before any build, so that npm links the command when a fresh checkout installs its packages.
try {
  await import('../dist/cli.js');
} catch (error) {
  const unbuilt = error?.code === 'ERR_MODULE_NOT_FOUND' && String(error.message).includes(`dist/cli.js'`);
  if (!unbuilt) throw error;
  console.error('hdms: the command is not built yet: run `npm run build:sdk` in the HDMS repository first');
  process.exit(1);
}
