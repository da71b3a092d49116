import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '../../server/src/trpc/appRouter';
import { DB_KINDS } from '../helpers/db';
import { ADMIN, http, startTestServer, type TestServer } from '../helpers/server';
import { BROWSER_TESTS, type BrowserContext, type Locator, launchChromium, type Page } from './browser';

/** Every router of the API: the panel must show each. */
const ROUTERS = [...new Set(Object.keys(appRouter._def.procedures).map((path) => path.split('.')[0]!))];
const SCREENSHOTS = join(process.cwd(), 'test-results', 'panel');

/** A procedure's box in the panel (`router.procedure`), opened so its form and response show. */
async function openProcedure(page: Page, path: string): Promise<Locator> {
  const [routerName, name] = path.split('.');
  const routerHeader = page.getByRole('button', { name: new RegExp(`^ROUTER ${routerName}\\b`) });
  const header = routerHeader
    .locator('xpath=..')
    .getByRole('button', { name: new RegExp(`^(QUERY|MUTATION) ${name}\\b`) });
  if (!(await header.isVisible())) await routerHeader.click();
  const box = header.locator('xpath=..');
  if (!(await box.locator('form').isVisible())) await header.click();
  return box;
}

/** Runs the procedure `path` from its box; returns the HTTP status of the panel's tRPC call. */
async function execute(box: Locator, path: string): Promise<number> {
  const name = path.split('.')[1];
  const answered = box.page().waitForResponse((res) => new URL(res.url()).pathname === `/trpc/${path}`);
  await box.getByRole('button', { name: new RegExp(`^Execute ${name}\\b`) }).click();
  const status = (await answered).status();
  await box
    .getByRole('heading', { name: 'Error' })
    .or(box.getByText(/^Response \(/))
    .waitFor();
  return status;
}

describe.skipIf(!BROWSER_TESTS).each(DB_KINDS)('tRPC panel in a browser, on %s', (kind) => {
  let t: TestServer;
  let userDataDir: string;
  let context: BrowserContext;
  let page: Page;
  const requested: string[] = [];
  /** What the browser reported against the page's Content-Security-Policy. */
  const violations: string[] = [];

  beforeAll(async () => {
    t = await startTestServer({}, { kind });
    await t.db.models.Doctor.create({ name: 'Dr. Ada Lovelace', specialization: 'Cardiology' });
    userDataDir = mkdtempSync(join(tmpdir(), 'hdms-panel-'));
    context = await launchChromium(userDataDir);
    context.on('request', (request) => requested.push(request.url()));
    context.on('console', (message) => {
      if (/Content Security Policy|Refused to/i.test(message.text())) violations.push(message.text());
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(10_000);
    await page.setViewportSize({ width: 1400, height: 1000 });
    await page.goto(`${t.url}/panel`);
  });

  afterAll(async () => {
    await context?.close();
    if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
    await t?.close();
  });

  it('lists every router and shows procedure descriptions', async () => {
    for (const name of ROUTERS) {
      await expect(
        page.getByRole('button', { name: new RegExp(`^ROUTER ${name}\\b`) }).isVisible(),
      ).resolves.toBe(true);
    }
    const login = await openProcedure(page, 'auth.login');
    await expect(login.getByText('Sign in with username (or email) and password').isVisible()).resolves.toBe(
      true,
    );
  });

  it('runs doctors.list only after signing in through auth.login (session cookie)', async () => {
    const list = await openProcedure(page, 'doctors.list');
    expect(await execute(list, 'doctors.list')).toBe(401);
    await list.getByText('UNAUTHORIZED').waitFor();
    expect(await list.textContent()).not.toContain('Dr. Ada Lovelace');

    const login = await openProcedure(page, 'auth.login');
    await login.locator('input[id="json.username"]').fill(ADMIN.username);
    await login.locator('input[id="json.password"]').fill(ADMIN.password);
    expect(await execute(login, 'auth.login')).toBe(200);
    await login.getByText(`"${ADMIN.email}"`).waitFor();

    const cookie = (await context.cookies(t.url)).find((c) => c.name === 'hdms_session');
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Lax' });

    expect(await execute(list, 'doctors.list')).toBe(200);
    await list.getByText('Dr. Ada Lovelace').waitFor();
    await list.getByText('"Cardiology"').waitFor();

    mkdirSync(SCREENSHOTS, { recursive: true });
    const file = join(SCREENSHOTS, `doctors-list-signed-in-${kind}.png`);
    await list.scrollIntoViewIfNeeded();
    await page.screenshot({ path: file });
    expect(statSync(file).size).toBeGreaterThan(0);
  });

  it('works under its Content-Security-Policy with no violation reported', async () => {
    const fresh = await context.newPage();
    try {
      await fresh.goto(`${t.url}/panel`);
      const list = await openProcedure(fresh, 'doctors.list');
      expect(await execute(list, 'doctors.list')).toBeGreaterThanOrEqual(200);
      await openProcedure(fresh, 'auth.login');
      await fresh.waitForTimeout(500);
    } finally {
      await fresh.close();
    }
    expect(violations).toEqual([]);
  });

  it('loads its JSON editor from this server, and nothing from anywhere else', async () => {
    const login = await openProcedure(page, 'auth.me');
    await login.getByRole('button', { name: /toggle raw JSON input/ }).click();
    await login.locator('.monaco-editor').first().waitFor();

    expect(requested.some((url) => url.startsWith(`${t.url}/panel/assets/`))).toBe(true);
    const elsewhere = requested.filter((url) => !url.startsWith(`${t.url}/`) && !url.startsWith('blob:'));
    expect(elsewhere).toEqual([]);
  });
});

/** The status of a GET sent with `path` exactly as written (fetch would normalise `..` away). */
function rawStatus(url: string, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(url);
    request({ hostname, port, path }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    })
      .on('error', reject)
      .end();
  });
}

describe('GET /panel', () => {
  it('serves the panel page with the usual security headers when enabled', async () => {
    const t = await startTestServer();
    try {
      const res = await fetch(`${t.url}/panel`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/html/);
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      const html = await res.text();
      expect(html).toContain('<title>HDMS API panel</title>');
      expect(html).not.toMatch(/cdn\.jsdelivr\.net|unpkg\.com/);

      const loader = await fetch(`${t.url}/panel/assets/monaco/vs/loader.js`);
      expect(loader.status).toBe(200);
      expect(loader.headers.get('content-type')).toMatch(/^text\/javascript/);
    } finally {
      await t.close();
    }
  });

  it('does not serve files outside the editor assets', async () => {
    const t = await startTestServer();
    try {
      const outside = [
        '/panel/assets/monaco/vs/../../package.json',
        '/panel/assets/monaco/vs/%2e%2e/%2e%2e/package.json',
        '/panel/assets/monaco/vs/..%2f..%2fpackage.json',
        '/panel/assets/monaco/vs/editor/editor.api.d.ts',
      ];
      for (const path of outside) expect(await rawStatus(t.url, path), path).toBe(404);
    } finally {
      await t.close();
    }
  });

  for (const env of [{ PANEL: 'off' }, { NODE_ENV: 'production' }] as Record<string, string>[]) {
    it(`is 404 with ${JSON.stringify(env)}`, async () => {
      const t = await startTestServer(env);
      try {
        const res = await http(t.url, 'GET', '/panel');
        expect(res.status).toBe(404);
        expect(res.body.error).toMatch(/^GET \/panel is not an endpoint of this server/);
        expect(res.body.panel).toBeUndefined();
        expect((await http(t.url, 'GET', '/panel/assets/monaco/vs/loader.js')).status).toBe(404);
      } finally {
        await t.close();
      }
    });
  }

  it('is served in production when PANEL=on', async () => {
    const t = await startTestServer({ NODE_ENV: 'production', PANEL: 'on' });
    try {
      expect((await fetch(`${t.url}/panel`)).status).toBe(200);
    } finally {
      await t.close();
    }
  });
});
