import { ownMariadbMissing } from '../helpers/mariadb';

/**
 * The cluster suites run servers of their own (`mariadbd`, Galera, HAProxy: `.ci/run` installs
 * them from Debian). Where one is missing a suite is skipped with a message saying which; under
 * `CI=true` it fails instead, so that CI never passes without having run them.
 */
export function skipWithout(needs: { galera?: boolean; haproxy?: boolean }): string | false {
  const missing = ownMariadbMissing(needs);
  if (!missing) return false;
  if (process.env.CI === 'true') throw new Error(`the cluster suite cannot run under CI: ${missing}`);
  console.warn(`skipping the cluster suite: ${missing}`);
  return missing;
}
