import { expect } from 'vitest';
import type { Browser, BrowserContextOptions, Page } from 'playwright-core';
import { PASSWORD } from '../../apps/auth-server/test/authorize-flow.ts';
import { ADMIN_PAGES } from '../../apps/auth-server/src/services/admin-console.ts';
import { screenshot, watchPage } from '../helpers/chromium.ts';
import { expectReadable } from './page-audit.ts';

/** What the admin console's Chromium tests share: the two widths, signing in, and reading pages at both. */

export const PHONE: BrowserContextOptions = { viewport: { width: 375, height: 740 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' };
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1200, height: 800 }, colorScheme: 'light' };

/** Signs `email` in through the login form at `base`, to come back to `next`. */
export async function signInAt(page: Page, base: string, email: string, next = '/admin'): Promise<void> {
  await page.goto(`${base}/login?next=${encodeURIComponent(next)}`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForLoadState('load');
}

/**
 * At each width (desktop, then 375 px dark), a new context in which `email` signs in and lands on
 * /admin; `use` then works on the page, and afterwards no request went elsewhere and there was no
 * CSP violation or console error. `suffix` names the width in messages and screenshots.
 */
export async function atBothWidths(
  browser: Browser, base: string, email: string, use: (page: Page, options: BrowserContextOptions, suffix: string) => Promise<void>,
): Promise<void> {
  for (const [options, suffix] of [[DESKTOP, 'desktop'], [PHONE, 'phone-dark']] as const) {
    const context = await browser.newContext(options);
    context.setDefaultTimeout(5_000);
    try {
      const page = await context.newPage();
      const watch = await watchPage(page);
      await signInAt(page, base, email);
      expect(new URL(page.url()).pathname).toBe('/admin');
      await use(page, options, suffix);
      expect(watch.foreign([base]), 'requests to other origins').toEqual([]);
      expect(watch.cspViolations, 'CSP violations').toEqual([]);
      expect(watch.consoleErrors, 'console errors').toEqual([]);
    } finally {
      await context.close();
    }
  }
}

/**
 * Signs `email` in at each width and opens each of `pages` ([path, h1, screenshot name]): the admin
 * navigation, a readable page (expectReadable) after `prepare` (e.g. opening disclosures), a
 * screenshot `<name>-desktop` / `<name>-phone-dark`, and no request elsewhere, CSP violation or console error.
 */
export async function readAdminPages(
  browser: Browser, base: string, email: string, pages: readonly (readonly [string, string, string])[], prepare: (page: Page) => Promise<void> = async () => {},
): Promise<void> {
  await atBothWidths(browser, base, email, async (page, _options, suffix) => {
    for (const [path, heading, name] of pages) {
      await page.goto(`${base}${path}`);
      expect(await page.getByRole('heading', { level: 1 }).textContent()).toBe(heading);
      expect(await page.getByRole('navigation', { name: 'Admin console' }).getByRole('link').count()).toBe(ADMIN_PAGES.length);
      await prepare(page);
      await expectReadable(page, `${path} (${suffix})`);
      await screenshot(page, `${name}-${suffix}`);
    }
  });
}
