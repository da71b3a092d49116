import { existsSync } from 'node:fs';
import { type BrowserContext, chromium } from 'playwright-core';

export type { BrowserContext, Locator, Page } from 'playwright-core';

/** Debian's Chromium; CI installs it (`apt-get install -y chromium`). No browser is downloaded. */
export const CHROMIUM_PATH = '/usr/bin/chromium';

/**
 * Whether the browser tests run. Without Chromium they are skipped, with one line saying how to
 * enable them, so `npm test` passes on a machine without a browser; under CI (`CI=true`) they
 * run all the same, and a missing browser fails them.
 */
export const BROWSER_TESTS = existsSync(CHROMIUM_PATH) || process.env.CI === 'true';
if (!BROWSER_TESTS) {
  console.warn(
    `Skipping the browser tests: no Chromium at ${CHROMIUM_PATH}. Install it (apt-get install -y chromium) to run them; with CI=true its absence is a failure.`,
  );
}

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A headless Chromium with a fresh profile in `userDataDir`; fails clearly when Chromium is missing. */
export async function launchChromium(userDataDir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}: the browser tests need it (apt-get install -y chromium)`,
    );
  }
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
  });
}
