import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { PASSWORD, seedUser } from '../../apps/auth-server/test/authorize-flow.ts';
import { addClient, jtiOf, login, revokedJtis, type TestClient } from '../../apps/auth-server/test/token-fixtures.ts';
import type { UserRecord } from '../../apps/auth-server/src/services/users.ts';
import { createResetLink } from '../../apps/auth-server/src/services/password-resets.ts';
import { launchChromium, screenshot, watchPage } from '../helpers/chromium.ts';
import { auditPage } from './page-audit.ts';

/**
 * The account lifecycle as a person goes through it in Chromium, with no JavaScript of ours: sign
 * in at /login on its own, land on /account, revoke an application, sign out. The account page is
 * checked like the authorization pages (labels, contrast, 375 px) and screenshots land in
 * test-output/screenshots/.
 */

const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' };
const DESKTOP: BrowserContextOptions = { viewport: { width: 900, height: 760 }, colorScheme: 'light' };
const RESOURCE = 'http://127.0.0.1:4999/mcp';

describe('account pages in Chromium', () => {
  let browser: Browser;
  let s: TestAuthServer;
  let client: TestClient;
  let other: TestClient;

  beforeAll(async () => {
    browser = await launchChromium();
    s = await startAuthServer();
    client = await addClient(s);
    other = await addClient(s);
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
  });

  /** A user who allowed both clients, with a token from each. */
  async function userWithGrants(): Promise<{ user: UserRecord; tokens: Record<string, unknown>[] }> {
    const user = await seedUser(s, 'developer');
    const tokens = [];
    for (const c of [client, other]) {
      await s.app.ctx.store.consents.grant({ userId: user.id, clientId: c.id, resource: RESOURCE }, ['db:read', 'db:write'], Date.now());
      tokens.push(await login(s, c, user));
    }
    return { user, tokens };
  }

  async function signIn(page: Page, email: string, password = PASSWORD): Promise<void> {
    await page.goto(`${s.url}/login`);
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  }

  it('[ACCT-STANDALONE-LOGIN] [ACCT-GRANT-REVOKE] [ACCT-LOGOUT] sign in at /login, see /account, revoke one application, sign out', async () => {
    const { user, tokens } = await userWithGrants();
    const context = await browser.newContext(DESKTOP);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      const watch = await watchPage(page);
      await signIn(page, user.email);
      expect(new URL(page.url()).pathname).toBe('/account');
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your account');
      expect(await page.getByRole('button', { name: /^Revoke / }).count()).toBe(2);
      await screenshot(page, 'account');

      await page.getByRole('button', { name: `Revoke test none` }).first().click();
      await page.waitForLoadState('load');
      expect(new URL(page.url()).pathname).toBe('/account');
      expect(await page.getByRole('status').textContent()).toContain('access was revoked');
      expect(await page.getByRole('button', { name: /^Revoke / }).count()).toBe(1);
      await screenshot(page, 'account-revoked');
      const revoked = await revokedJtis(s);
      expect(tokens.filter((t) => revoked.includes(jtiOf(t.access_token)))).toHaveLength(1);

      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForLoadState('load');
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('You are signed out');
      await screenshot(page, 'signed-out');
      expect(s.auditEvents().some((e) => e.event === 'logout' && e.user === user.id)).toBe(true);
      await page.goto(`${s.url}/account`);
      expect(new URL(page.url()).pathname).toBe('/login');

      expect(watch.foreign([s.url]), 'requests to other origins').toEqual([]);
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
      expect(watch.consoleErrors, 'console errors').toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('[ACCT-PASSWORD-CHANGE] a wrong current password is refused on the page; the right one changes it, and only the new password signs in', async () => {
    const { user } = await userWithGrants();
    const context = await browser.newContext(DESKTOP);
    context.setDefaultTimeout(5_000);
    const next = 'another long passphrase 42';
    try {
      const page = await context.newPage();
      const watch = await watchPage(page);
      await signIn(page, user.email);
      await page.getByLabel('Current password').fill('not the password at all');
      await page.getByLabel('New password (at least 12 characters)').fill(next);
      await page.getByLabel('New password again').fill(next);
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.waitForLoadState('load');
      expect(await page.getByRole('alert').textContent()).toContain('The current password is incorrect.');
      await screenshot(page, 'account-password-wrong');

      await page.getByLabel('Current password').fill(PASSWORD);
      await page.getByLabel('New password (at least 12 characters)').fill(next);
      await page.getByLabel('New password again').fill(next);
      await page.getByRole('button', { name: 'Change password' }).click();
      await page.waitForLoadState('load');
      expect(new URL(page.url()).pathname).toBe('/account');
      expect(s.auditEvents().filter((e) => e.user === user.id).map((e) => e.event)).toEqual(expect.arrayContaining(['password.change_failed', 'password.changed']));

      await page.getByRole('button', { name: 'Sign out', exact: true }).click();
      await page.waitForLoadState('load');
      await signIn(page, user.email);
      expect(new URL(page.url()).pathname).toBe('/login');
      await signIn(page, user.email, next);
      expect(new URL(page.url()).pathname).toBe('/account');
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
      // The refused form and the refused old password answer 4xx, which Chromium reports as a failed load.
      expect(watch.consoleErrors.filter((e) => !/status of 4\d\d/.test(e)), 'console errors').toEqual([]);
    } finally {
      await context.close();
    }
  });

  it('[ACCT-RESET-LINK] an admin\'s reset link sets a new password once, signs the person out everywhere, and is refused the second time', async () => {
    const { user } = await userWithGrants();
    const signedIn = await browser.newContext(DESKTOP);
    const resetting = await browser.newContext(PHONE);
    signedIn.setDefaultTimeout(5_000);
    resetting.setDefaultTimeout(5_000);
    const next = 'a brand new passphrase 7';
    try {
      const before = await signedIn.newPage();
      await signIn(before, user.email);
      expect(new URL(before.url()).pathname).toBe('/account');

      const link = await createResetLink(s.app.ctx.store, s.url, user.id, Date.now());
      const page = await resetting.newPage();
      const watch = await watchPage(page);
      await page.goto(link.url);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Choose a new password');
      const a = await auditPage(page);
      expect(a.unlabeled).toEqual([]);
      expect(a.overflows, 'horizontal scroll at 375 px').toBe(false);
      await screenshot(page, 'reset-password-phone-dark');
      await page.getByLabel('New password (at least 12 characters)').fill(next);
      await page.getByLabel('New password again').fill(next);
      await page.getByRole('button', { name: 'Set password' }).click();
      await page.waitForLoadState('load');
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('Your password was set');

      // The other browser's session ended with the reset.
      await before.goto(`${s.url}/account`);
      expect(new URL(before.url()).pathname).toBe('/login');
      // The link is used up.
      const again = await page.goto(link.url);
      expect(again?.status()).toBe(400);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe('This link cannot be used');
      await signIn(page, user.email, next);
      expect(new URL(page.url()).pathname).toBe('/account');
      expect(s.auditEvents().some((e) => e.event === 'password.reset' && e.user === user.id)).toBe(true);
      expect(JSON.stringify(s.auditEvents())).not.toContain(new URL(link.url).searchParams.get('token'));
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
    } finally {
      await signedIn.close();
      await resetting.close();
    }
  });

  it('[ACCT-ACCOUNT-PAGE] account and sign-out pages: labels, one heading, contrast at least 4.5, no horizontal scroll at 375 px', async () => {
    const { user } = await userWithGrants();
    for (const [options, suffix] of [[DESKTOP, ''], [PHONE, '-phone-dark']] as const) {
      const context = await browser.newContext(options);
      context.setDefaultTimeout(5_000);
      try {
        const page = await context.newPage();
        await signIn(page, user.email);
        for (const [path, name] of [['/account', 'account-page'], ['/logout', 'logout-confirm']] as const) {
          await page.goto(`${s.url}${path}`);
          const a = await auditPage(page);
          expect(a.lang).toBe('en');
          expect(a.h1).toHaveLength(1);
          expect(a.unlabeled).toEqual([]);
          expect(a.unnamed).toEqual([]);
          expect(a.contrast.filter((c) => c.ratio < 4.5), `low contrast on ${path} (${suffix || 'light'})`).toEqual([]);
          expect(a.overflows, `horizontal scroll on ${path}`).toBe(false);
          await screenshot(page, `${name}${suffix}`);
        }
      } finally {
        await context.close();
      }
    }
  });
});
