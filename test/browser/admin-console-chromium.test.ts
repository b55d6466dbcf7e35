import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { seedUser } from '../../apps/auth-server/test/authorize-flow.ts';
import { addClient } from '../../apps/auth-server/test/token-fixtures.ts';
import type { UserRecord } from '../../apps/auth-server/src/services/users.ts';
import { launchChromium, screenshot, startCallbackServer, watchPage, type CallbackServer } from '../helpers/chromium.ts';
import { auditPage } from './page-audit.ts';
import { DESKTOP, PHONE, readAdminPages, signInAt } from './admin-pages.ts';

/**
 * The admin console (/admin) in Chromium, with no JavaScript of ours: an admin signs in and reads
 * the overview and the users page at 375 px and at desktop width (labels, one heading, contrast,
 * no horizontal scroll, no CSP violation), disables a user; a developer gets the refusal page; no
 * other origin can frame the console. Screenshots land in test-output/screenshots/.
 */

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

  const signIn = (page: Page, email: string, next = '/admin') => signInAt(page, s.url, email, next);

  it('[ADMIN-8] [ADMIN-4] an admin reads the overview and the users page at 375 px and at desktop width: no CSP violation, no horizontal scroll', async () => {
    await readAdminPages(browser, s.url, admin.email, [['/admin', 'Admin console', 'admin-overview'], ['/admin/users', 'Users', 'admin-users']]);
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

  it('[ADMIN-8] [ADMIN-2] [ADMIN-4] [ADMIN-7] every console page: a developer is refused each one, no other origin can frame any, and a form posted from another origin changes nothing', async () => {
    const victim = await seedUser(s, 'developer');
    const client = await addClient(s);
    const pages = ['/admin', '/admin/users', `/admin/users/${victim.id}`, '/admin/clients', '/admin/keys', '/admin/servers', '/admin/audit'];
    const context = await browser.newContext(DESKTOP);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      await signIn(page, developer.email);
      for (const path of pages) {
        const res = await page.goto(`${s.url}${path}`);
        expect(res?.status(), path).toBe(403);
        expect(await page.getByRole('navigation', { name: 'Admin console' }).count(), path).toBe(0);
      }
    } finally {
      await context.close();
    }

    const adminContext = await browser.newContext(DESKTOP);
    adminContext.setDefaultTimeout(5_000);
    try {
      const page = await adminContext.newPage();
      await signIn(page, admin.email);
      for (const path of pages) expect((await page.goto(`${s.url}${path}`))?.status(), path).toBe(200);

      // Framing: each page refused inside a frame on the other origin.
      const refusals: string[] = [];
      page.on('console', (m) => { if (/frame-ancestors/.test(m.text())) refusals.push(m.text()); });
      await page.goto(`${cb.url}/framing`);
      for (const path of pages) {
        const before = refusals.length;
        await page.evaluate((src) => {
          const f = document.createElement('iframe');
          f.src = src;
          document.body.append(f);
        }, `${s.url}${path}`);
        await expect.poll(() => refusals.length, { message: `${path} framed` }).toBeGreaterThan(before);
      }
      for (const f of page.frames().filter((x) => x !== page.mainFrame())) expect(await f.$('nav.admin-nav')).toBeFalsy();

      // Cross-origin forms: the admin's cookie goes along (same site), the CSRF token cannot.
      const keysBefore = (await s.app.ctx.store.signingKeys.list()).length;
      const forms: [string, Record<string, string>][] = [
        ['/admin/users', { user: victim.email, action: 'disable' }],
        [`/admin/users/${victim.id}`, { client: client.id, action: 'revoke' }],
        ['/admin/clients', { client: client.id, action: 'revoke' }],
        ['/admin/keys', { action: 'rotate' }],
        ['/admin/audit/verify', {}],
      ];
      for (const [action, fields] of forms) {
        await page.goto(`${cb.url}/forged`);
        const answer = page.waitForResponse((r) => r.url() === `${s.url}${action}` && r.request().method() === 'POST');
        await page.evaluate(({ url, values }) => {
          const form = document.createElement('form');
          form.method = 'POST';
          form.action = url;
          for (const [k, v] of Object.entries(values)) {
            const i = document.createElement('input');
            i.type = 'hidden';
            i.name = k;
            i.value = v;
            form.append(i);
          }
          document.body.append(form);
          form.submit();
        }, { url: `${s.url}${action}`, values: fields });
        expect((await answer).status(), action).toBe(403);
        // The refusal page has loaded before the next form is forged.
        await page.waitForURL(`${s.url}${action}`, { waitUntil: 'load' });
        expect(await page.getByRole('heading', { level: 1 }).textContent(), action).toBe('This form could not be accepted');
      }
      expect((await s.app.ctx.store.users.findById(victim.id))?.disabledAt).toBeNull();
      expect((await s.app.ctx.store.clients.find(client.id))?.revokedAt).toBeNull();
      expect((await s.app.ctx.store.signingKeys.list()).length).toBe(keysBefore);
    } finally {
      await adminContext.close();
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
