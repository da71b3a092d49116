/**
 * Variables that look like a misspelt setting (`DATABSE_URL` for `DATABASE_URL`): a setting that
 * is silently ignored is the costliest typo there is (the server starts on the wrong database).
 * Pure functions of the environment and the names the configuration schema knows.
 */

/**
 * Names of the operating system, shells, npm, Node and container runtimes that sit close to one of
 * ours (`HOME` is two edits from `HOST`): never reported.
 */
const SYSTEM_NAMES: ReadonlySet<string> = new Set([
  'HOME',
  'HOSTNAME',
  'HOSTTYPE',
  'PATH',
  'PWD',
  'OLDPWD',
  'TERM',
  'SHELL',
  'USER',
  'USERNAME',
  'LOGNAME',
  'LANG',
  'LANGUAGE',
  'MAIL',
  'TZ',
  'TMPDIR',
  'TEMP',
  'TMP',
  'EDITOR',
  'VISUAL',
  'PAGER',
  'DISPLAY',
  'SHLVL',
  'COLUMNS',
  'LINES',
  'COLOR',
  'COLORTERM',
  'NODE',
  'NODE_OPTIONS',
  'NODE_PATH',
  'INIT_CWD',
  'OSTYPE',
  'MACHTYPE',
  'CI',
  'DEBUG',
  'TEST',
  'VITEST',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'ALL_PROXY',
]);

/**
 * Prefixes of variable families set by tools, never by an HDMS operator: npm's `npm_config_*`
 * and `npm_package_*` (npm sets dozens for every `npm run`), locales, XDG, SSH, terminals,
 * editors, CI runners and Kubernetes' service links.
 */
const SYSTEM_PREFIXES: readonly string[] = [
  'NPM_',
  'LC_',
  'XDG_',
  'SSH_',
  'TERM_',
  'VSCODE_',
  'GIT_',
  'GITHUB_',
  'RUNNER_',
  'KUBERNETES_',
  'DOCKER_',
  'VITEST_',
  'COREPACK_',
];

/** A variable that is not one of ours but looks like `intended`. */
export interface Lookalike {
  name: string;
  intended: string;
}

/**
 * The edit distance (Levenshtein, with a swap of two neighbours counting as one edit: the
 * "optimal string alignment" distance) between `a` and `b`, or `limit + 1` once it is known to be
 * more than `limit`.
 */
export function editDistance(a: string, b: string, limit = Number.POSITIVE_INFINITY): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let beforePrevious: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d = Math.min(d, beforePrevious[j - 2]! + 1);
      }
      current.push(d);
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin > limit) return limit + 1;
    beforePrevious = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/**
 * How far a variable may be from `known` and still count as a typo of it: two edits, but one for
 * names of five letters or fewer (`HOST`, `PORT`, `PANEL`), where two edits make another word.
 */
const reach = (known: string) => (known.length <= 5 ? 1 : 2);

/**
 * The variables of `source` that are not in `known` but within reach of one of its names
 * (letter case aside: `database_url` is reported too), each with the nearest name. System
 * variables (`HOME`, `HOSTNAME`, `npm_*`, ...) are never reported.
 */
export function findLookalikes(
  source: Record<string, string | undefined>,
  known: readonly string[],
): Lookalike[] {
  const ours = new Set(known);
  const found: Lookalike[] = [];
  for (const name of Object.keys(source)) {
    if (ours.has(name) || source[name] === undefined) continue;
    const upper = name.toUpperCase();
    if (SYSTEM_NAMES.has(upper) || SYSTEM_PREFIXES.some((prefix) => upper.startsWith(prefix))) continue;
    let best: { intended: string; distance: number } | undefined;
    for (const candidate of known) {
      const distance = editDistance(upper, candidate, reach(candidate));
      if (distance <= reach(candidate) && (!best || distance < best.distance)) {
        best = { intended: candidate, distance };
      }
    }
    if (best) found.push({ name, intended: best.intended });
  }
  return found.sort((a, b) => a.name.localeCompare(b.name));
}
