import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { PASSWORD, seedUser } from '../../apps/auth-server/test/authorize-flow.ts';
import type { UserRecord } from '../../apps/auth-server/src/services/users.ts';
import { ADMIN_PAGES } from '../../apps/auth-server/src/services/admin-console.ts';
import { launchChromium, screenshot, startCallbackServer, watchPage, type CallbackServer } from '../helpers/chromium.ts';
import { auditPage } from './page-audit.ts';

/**
 * The admin console (/admin) in Chromium, with no JavaScript of ours: an admin signs in and reads
 * the overview and the users page at 375 px and at desktop width (labels, one heading, contrast,
 * no horizontal scroll, no CSP violation), disables a user; a developer gets the refusal page; no
 * other origin can frame the console. Screenshots land in test-output/screenshots/.
 */

const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' };
const DESKTOP: BrowserContextOptions = { viewport: { width: 1200, height: 800 }, colorScheme: 'light' };

describe('admin console in Chromium', () => {
  let browser: Browser;
  let s: TestAuthServer;
  let cb: CallbackServer;
  let admin: UserRecord;
  let developer: UserRecord;

  beforeAll(async () => {
    browser = await launchChromium();
    s = await startAuthServer();
    cb = await startCallbackServer();
    admin = await seedUser(s, 'admin', 'admin@example.com');
    developer = await seedUser(s, 'developer', 'a-developer-with-a-rather-long-address@subdomain.example.com');
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    await cb?.close();
  });

  async function signIn(page: Page, email: string, next = '/admin'): Promise<void> {
    await page.goto(`${s.url}/login?next=${encodeURIComponent(next)}`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  }

  it('[ADMIN-8] [ADMIN-4] an admin reads the overview and the users page at 375 px and at desktop width: no CSP violation, no horizontal scroll', async () => {
    for (const [options, suffix] of [[DESKTOP, 'desktop'], [PHONE, 'phone-dark']] as const) {
      const context = await browser.newContext(options);
      context.setDefaultTimeout(5_000);
      try {
        const page = await context.newPage();
        const watch = await watchPage(page);
        await signIn(page, admin.email);
        expect(new URL(page.url()).pathname).toBe('/admin');
        for (const [path, heading, name] of [['/admin', 'Admin console', 'admin-overview'], ['/admin/users', 'Users', 'admin-users']] as const) {
          await page.goto(`${s.url}${path}`);
          expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(heading);
          expect(await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link').count()).toBe(ADMIN_PAGES.length);
          const a = await auditPage(page);
          expect(a.lang).toBe('en');
          expect(a.h1).toHaveLength(1);
          expect(a.unlabeled).toEqual([]);
          expect(a.unnamed).toEqual([]);
          expect(a.contrast.filter((c) => c.ratio < 4.5), `low contrast on ${path} (${suffix})`).toEqual([]);
          expect(a.overflows, `horizontal scroll on ${path} (${suffix})`).toBe(false);
          await screenshot(page, `${name}-${suffix}`);
        }
        expect(watch.foreign([s.url]), 'requests to other origins').toEqual([]);
        expect(watch.cspViolations, 'CSP violations').toEqual([]);
        expect(watch.consoleErrors, 'console errors').toEqual([]);
      } finally {
        await context.close();
      }
    }
  });

  it('[ADMIN-8] [ADMIN-6] an admin disables a user from the users page and sees it done', async () => {
    const victim = await seedUser(s, 'developer');
    const context = await browser.newContext(DESKTOP);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      const watch = await watchPage(page);
      await signIn(page, admin.email, '/admin/users');
      expect(new URL(page.url()).pathname).toBe('/admin/users');
      await page.getByRole('button', { name: `Disable ${victim.email}` }).click();
      await page.waitForLoadState('load');
      expect(new URL(page.url()).pathname).toBe('/admin/users');
      expect(await page.getByRole('status').textContent()).toContain('The user was disabled');
      expect(await page.getByRole('button', { name: `Enable ${victim.email}` }).count()).toBe(1);
      await screenshot(page, 'admin-users-disabled');
      expect((await s.app.ctx.store.users.findById(victim.id))?.disabledAt).not.toBeNull();
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('[ADMIN-8] [ADMIN-2] a developer gets the refusal page, readable at 375 px', async () => {
    const context = await browser.newContext(PHONE);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      const watch = await watchPage(page);
      await signIn(page, developer.email);
      const res = await page.goto(`${s.url}/admin/users`);
      expect(res?.status()).toBe(403);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Not allowed');
      expect(await page.getByRole('alert').textContent()).toContain('only for administrators');
      expect(await page.getByRole('navigation', { name: 'Admin console' }).count()).toBe(0);
      const a = await auditPage(page);
      expect(a.overflows, 'horizontal scroll at 375 px').toBe(false);
      await screenshot(page, 'admin-refused-phone-dark');
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('[ADMIN-8] [ADMIN-4] Chromium refuses to show the admin console inside a frame on another origin', async () => {
    const context = await browser.newContext(DESKTOP);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      await signIn(page, admin.email);
      const blocked = new Promise<string>((ok) => page.on('console', (m) => { if (/frame-ancestors/.test(m.text())) ok(m.text()); }));
      await page.goto(`${cb.url}/framing`);
      await page.evaluate((src) => {
        const f = document.createElement('iframe');
        f.src = src;
        document.body.append(f);
      }, `${s.url}/admin/users`);
      expect(await blocked).toContain("frame-ancestors 'none'");
      const frame = page.frames().find((f) => f !== page.mainFrame());
      expect(await frame?.$('nav.admin-nav')).toBeFalsy();
    } finally {
      await context.close();
    }
  });
});
