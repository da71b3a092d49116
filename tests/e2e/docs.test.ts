import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../helpers/server';
import { BROWSER_TESTS, type BrowserContext, launchChromium, type Page } from './browser';

describe.skipIf(!BROWSER_TESTS)('the /docs API reference in a browser', () => {
  let t: TestServer;
  let userDataDir: string;
  let context: BrowserContext;
  let page: Page;
  const requested: string[] = [];
  /** What the browser reported against the page's Content-Security-Policy, and page errors. */
  const problems: string[] = [];

  beforeAll(async () => {
    t = await startTestServer({});
    userDataDir = mkdtempSync(join(tmpdir(), 'hdms-docs-'));
    context = await launchChromium(userDataDir);
    context.on('request', (request) => requested.push(request.url()));
    context.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) problems.push(message.text());
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('pageerror', (error) => problems.push(error.message));
    page.setDefaultTimeout(15_000);
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(`${t.url}/docs`);
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await t?.close();
  });

  it('renders every endpoint of the document, from this server only, within its CSP', async () => {
    await page.getByText('HDMS REST API', { exact: false }).first().waitFor();
    for (const path of [
      '/register',
      '/patients',
      '/update_patient/{id}',
      '/jobs/{id}',
      '/users/{id}/link',
      '/healthz',
    ]) {
      await expect(
        page.locator(`.opblock-summary-path[data-path="${path}"]`).first().isVisible(),
      ).resolves.toBe(true);
    }
    expect(problems).toEqual([]);
    expect(requested.some((url) => url === `${t.url}/openapi.json`)).toBe(true);
    const elsewhere = requested.filter((url) => !url.startsWith(`${t.url}/`) && !url.startsWith('data:'));
    expect(elsewhere).toEqual([]);
  });

  it("shows an endpoint's body fields and calls it with Try it out", async () => {
    const block = page.locator('.opblock-get').filter({ has: page.locator('[data-path="/healthz"]') });
    await block.locator('.opblock-summary').click();
    await block.getByRole('button', { name: 'Try it out' }).click();
    const answered = page.waitForResponse((res) => new URL(res.url()).pathname === '/healthz');
    await block.getByRole('button', { name: 'Execute' }).click();
    expect((await answered).status()).toBe(200);
    const live = block.locator('.live-responses-table tbody .response').first();
    await expect(live.locator('.response-col_status').textContent()).resolves.toContain('200');
    await expect(live.getByText('"status": "ok"').isVisible()).resolves.toBe(true);

    const register = page.locator('.opblock-post').filter({ has: page.locator('[data-path="/register"]') });
    await register.locator('.opblock-summary').click();
    const example = register.locator('.opblock-body .body-param__example, .opblock-body .example').first();
    await example.waitFor();
    await expect(example.textContent()).resolves.toMatch(
      /"username"[\s\S]*"password"[\s\S]*"role": "doctor"/,
    );
    expect(problems).toEqual([]);
  });
});
