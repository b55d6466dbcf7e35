import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { PASSWORD, authorizeUrl, seedClient, seedUser, validParams } from '../../apps/auth-server/test/authorize-flow.ts';
import { launchChromium, screenshot, startCallbackServer, watchPage, type CallbackServer, type PageWatch } from '../helpers/chromium.ts';
import { auditPage, tabOrder } from './page-audit.ts';

/**
 * The login, consent and error pages as a person meets them in Chromium: accessible (labels, names,
 * focus order, contrast in light and dark mode), readable on a 375 px phone, nothing loaded from
 * elsewhere, no console errors or CSP violations, never framed. Screenshots land in
 * test-output/screenshots/ for a human to look at.
 */

const PAGES = ['login', 'login-wrong-password', 'consent', 'csrf-error', 'session-ended', 'authorize-error'] as const;
type PageName = (typeof PAGES)[number];
/** Pages answered with a 4xx on purpose: Chromium logs the status as a console error. */
const ERROR_PAGES: readonly PageName[] = ['csrf-error', 'session-ended', 'authorize-error'];

const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' };
const DESKTOP: BrowserContextOptions = { viewport: { width: 900, height: 760 }, colorScheme: 'light' };

describe('authorization pages: accessibility, phone layout, no external requests (Chromium)', () => {
  let browser: Browser;
  let s: TestAuthServer;
  let cb: CallbackServer;
  let client: { id: string };

  beforeAll(async () => {
    [browser, cb] = await Promise.all([launchChromium(), startCallbackServer()]);
    s = await startAuthServer();
    client = await seedClient(s, { name: 'Local CLI', redirectUris: ['http://127.0.0.1/callback'] });
  });
  afterAll(async () => {
    await browser?.close();
    await cb?.close();
    await s?.close();
  });

  async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  }

  /** Navigates a fresh page to one of the pages, as a person would reach it. */
  async function open(page: Page, name: PageName): Promise<void> {
    if (name === 'authorize-error') {
      await page.goto(authorizeUrl(s, validParams('no-such-client', `${cb.url}/callback`)));
      return;
    }
    await page.goto(authorizeUrl(s, validParams(client.id, `${cb.url}/callback`, { scope: 'db:read db:write' })));
    if (name === 'login') return;
    if (name === 'login-wrong-password') return signIn(page, 'someone@example.com', 'wrong password');
    // A fresh user each time: an earlier Allow would be remembered and skip the consent page.
    await signIn(page, (await seedUser(s, 'developer')).email);
    expect(new URL(page.url()).pathname).toBe('/consent');
    if (name === 'consent') return;
    if (name === 'csrf-error') await page.evaluate(() => document.querySelector('form[action="consent"] input[name="_csrf"]')?.remove());
    // The session cookie gone is what an ended session looks like to the server.
    else await page.context().clearCookies({ name: 'sid' });
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForLoadState('load');
  }

  async function visit(name: PageName, options: BrowserContextOptions): Promise<{ page: Page; watch: PageWatch; close: () => Promise<void> }> {
    const context = await browser.newContext(options);
    context.setDefaultTimeout(5_000);
    const page = await context.newPage();
    const watch = await watchPage(page);
    await open(page, name);
    return { page, watch, close: () => context.close() };
  }

  function expectQuiet(name: PageName, watch: PageWatch): void {
    expect(watch.foreign([s.url]), 'requests to other origins').toEqual([]);
    expect(watch.requests.some((u) => u.endsWith('/assets/app.css')), 'stylesheet requested').toBe(true);
    expect(watch.cspViolations, 'CSP violations').toEqual([]);
    const expected = ERROR_PAGES.includes(name) ? /status of 4\d\d/ : /^$/;
    expect(watch.consoleErrors.filter((e) => !expected.test(e)), 'console errors').toEqual([]);
  }

  it.each(PAGES)('%s: lang, viewport, labels, one heading, contrast at least 4.5 in light and dark, no horizontal scroll at 375 px, nothing from other origins', async (name) => {
    for (const [options, suffix] of [[DESKTOP, ''], [PHONE, '-phone-dark']] as const) {
      const { page, watch, close } = await visit(name, options);
      try {
        const a = await auditPage(page);
        expect(a.lang).toBe('en');
        expect(a.viewport).toContain('width=device-width');
        expect(a.h1).toHaveLength(1);
        expect(a.title.length).toBeGreaterThan(3);
        expect(a.unlabeled).toEqual([]);
        expect(a.unnamed).toEqual([]);
        expect(a.contrast.length).toBeGreaterThanOrEqual(2);
        expect(a.contrast.filter((c) => c.ratio < 4.5), `low contrast (${suffix || 'light'})`).toEqual([]);
        expect(a.overflows, 'horizontal scroll').toBe(false);
        expectQuiet(name, watch);
        await screenshot(page, `${name}${suffix}`);
      } finally {
        await close();
      }
    }
  });

  it('login page: Tab moves email → password → Sign in', async () => {
    const { page, close } = await visit('login', DESKTOP);
    try {
      expect(await tabOrder(page, 3)).toEqual(['input#email[email]', 'input#password[password]', 'button']);
    } finally {
      await close();
    }
  });

  it('[MCP-CIMD-DISPLAY-HOST] [MCP-CIMD-LOCALHOST-WARN] consent page: client name, redirect host, loopback warning and each scope in words; Tab reaches Deny and Allow', async () => {
    const { page, close } = await visit('consent', DESKTOP);
    try {
      const text = (await page.textContent('main')) ?? '';
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toContain('Local CLI');
      expect(text).toContain(`127.0.0.1:${cb.port}`);
      expect(text).toContain('runs on your own computer');
      expect(text).toContain('Read data: list tables, describe them and run read-only queries');
      expect(text).toContain('Change data: run SQL statements that insert, update or delete rows');
      const order = await tabOrder(page, 6);
      expect(order).toContain('button[decision=deny]');
      expect(order).toContain('button[decision=allow]');
    } finally {
      await close();
    }
  });

  it('[RFC9700-CLICKJACKING] Chromium refuses to show the login page inside a frame on another origin', async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const blocked = new Promise<string>((ok) => page.on('console', (m) => { if (/frame-ancestors/.test(m.text())) ok(m.text()); }));
      await page.goto(`${cb.url}/framing`);
      const login = authorizeUrl(s, validParams(client.id, `${cb.url}/callback`));
      await page.evaluate((src) => {
        const f = document.createElement('iframe');
        f.src = src;
        document.body.append(f);
      }, login);
      expect(await blocked).toContain("frame-ancestors 'none'");
      const frame = page.frames().find((f) => f !== page.mainFrame());
      expect(await frame?.$('#password')).toBeFalsy();
    } finally {
      await context.close();
    }
  });
});
