import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { freePort, startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { authorizeUrl, seedClient, seedUser, validParams } from '../../apps/auth-server/test/authorize-flow.ts';
import { federatedStack } from '../../apps/auth-server/test/federation-flow.ts';
import { launchChromium, screenshot, startCallbackServer, watchPage, type CallbackServer } from '../helpers/chromium.ts';
import { startTestIdp, type TestIdp } from '../helpers/oidc-idp.ts';
import { auditPage } from './page-audit.ts';

/**
 * "Continue with Corporate SSO" in Chromium, through a real OpenID provider (oidc-provider on
 * 127.0.0.1): the first sign-in creates the account with the role its groups map to, a removed
 * group lowers the role at the next sign-in, and a forged state, a replayed answer, a wrong nonce,
 * an answer naming another issuer and an unverified email matching a local account each end on a
 * page that says why, with an audit line. Screenshots land in test-output/screenshots/.
 */

/**
 * Rewrites the Location of the redirect a navigation to `url` answers with (our start page's
 * redirect to the provider, the provider's redirect to our callback): Chromium follows redirects
 * itself, so the request that answers with one is the one to change. Cookies it sets are kept
 * (the route's fetch shares the context's cookies).
 */
async function rewriteRedirect(page: Page, url: string | RegExp, change: (location: URL) => void): Promise<void> {
  await page.route(url, async (route) => {
    const res = await route.fetch({ maxRedirects: 0 });
    const location = new URL(res.headers().location!, route.request().url());
    change(location);
    await route.fulfill({ response: res, headers: { ...res.headers(), location: location.href } });
  });
}

describe('sign-in with an upstream identity provider (Chromium)', () => {
  let browser: Browser;
  let cb: CallbackServer;
  let idp: TestIdp;
  let s: TestAuthServer;
  let dir: string;
  let client: { id: string };

  beforeAll(async () => {
    const port = await freePort();
    [browser, cb, idp] = await Promise.all([launchChromium(), startCallbackServer(), startTestIdp([`http://127.0.0.1:${port}/federation/corporate-sso/callback`])]);
    dir = mkdtempSync(join(tmpdir(), 'federation-chromium-'));
    writeFileSync(join(dir, 'stack.yaml'), federatedStack(idp));
    s = await startAuthServer({ AUTH_PORT: String(port), STACK_FILE: join(dir, 'stack.yaml') }, {
      refs: { secret: (n) => (n === 'CORP_SSO_SECRET' ? idp.clientSecret : undefined), env: () => undefined },
    });
    client = await seedClient(s, { name: 'Local CLI', redirectUris: [`${cb.url}/callback`] });
  });
  afterAll(async () => {
    await browser?.close();
    await cb?.close();
    await s?.close();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A fresh browser profile at our login page for a new authorization request. */
  async function atLogin(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 900, height: 760 } });
    context.setDefaultTimeout(5_000);
    const page = await context.newPage();
    await page.goto(authorizeUrl(s, validParams(client.id, `${cb.url}/callback`)));
    expect(new URL(page.url()).pathname).toBe('/login');
    return { context, page };
  }

  /** Clicks "Continue with Corporate SSO" and signs in at the provider as `account`. */
  async function viaIdp(page: Page, account: string): Promise<void> {
    await page.getByRole('link', { name: 'Continue with Corporate SSO' }).click();
    await page.waitForURL((u) => u.origin === idp.issuer);
    await page.getByLabel('Account').fill(account);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('link', { name: 'Continue' }).click();
    await page.waitForURL((u) => u.origin === s.url);
    await page.waitForLoadState('load');
  }

  const role = async (email: string) => (await s.sql<{ role: string }>('select role from users where email = ?', email))[0]?.role;
  const lastRefusal = () => s.auditEvents().filter((e) => e.event === 'federation.refused').at(-1);

  /** Expects the refusal page (`status`, `text`) and an audit line with `reason`. */
  async function expectRefused(page: Page, text: string, reason: RegExp, shot: string): Promise<void> {
    expect(await page.textContent('main')).toContain(text);
    expect(await page.getByRole('link', { name: 'Back to sign-in' }).count()).toBeLessThanOrEqual(1);
    expect(lastRefusal()?.reason).toMatch(reason);
    // Styled like every page (its stylesheet found from /federation/<slug>/callback), one heading, readable.
    expect(await page.evaluate(() => [...document.styleSheets].some((css) => css.href?.endsWith('/assets/app.css') && css.cssRules.length > 0))).toBe(true);
    const a = await auditPage(page);
    expect(a.h1).toHaveLength(1);
    expect(a.contrast.filter((c) => c.ratio < 4.5)).toEqual([]);
    await screenshot(page, shot);
  }

  it('[FED-LOGIN-BUTTONS] [FED-JIT] [FED-ROLE-RULES] the first sign-in creates the user with the mapped role and ends at the client with a code', async () => {
    idp.accounts.set('alice', { email: 'alice@example.com', email_verified: true, groups: ['mcp-admins'] });
    const { context, page } = await atLogin();
    try {
      const watch = await watchPage(page);
      const a = await auditPage(page);
      expect(a.unlabeled).toEqual([]);
      expect(a.unnamed).toEqual([]);
      expect(a.contrast.filter((c) => c.ratio < 4.5)).toEqual([]);
      await screenshot(page, 'federation-login-buttons');
      await viaIdp(page, 'alice');
      expect(new URL(page.url()).pathname).toBe('/consent');
      await screenshot(page, 'federation-consent');
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL((u) => u.origin === cb.url);
      expect(cb.hits.at(-1)?.get('code')).toBeTruthy();
      expect(watch.cspViolations).toEqual([]);
      expect(await role('alice@example.com')).toBe('admin');
      expect(s.auditEvents().filter((e) => e.event === 'login.succeeded').at(-1)).toMatchObject({ method: 'federation:corporate-sso' });
    } finally {
      await context.close();
    }
  });

  it('[FED-ROLE-EVERY-SIGNIN] a removed group changes the role at the next sign-in', async () => {
    idp.accounts.set('alice', { email: 'alice@example.com', email_verified: true, groups: [] });
    const { context, page } = await atLogin();
    try {
      await viaIdp(page, 'alice');
      expect(new URL(page.url()).pathname).toBe('/consent');
      // Now only the email rule matches: viewer, and the consent page asks for viewer scopes only.
      expect(await role('alice@example.com')).toBe('viewer');
      expect(s.auditEvents().filter((e) => e.event === 'federation.role_changed').at(-1)).toMatchObject({ previous: 'admin', role: 'viewer' });
    } finally {
      await context.close();
    }
  });

  it('[FED-STATE] a forged state is refused with a page and an audit line', async () => {
    idp.accounts.set('bea', { email: 'bea@example.com', email_verified: true, groups: ['mcp-developers'] });
    const { context, page } = await atLogin();
    try {
      await rewriteRedirect(page, `${idp.issuer}/auth/**`, (u) => u.searchParams.set('state', 'forged-state'));
      await viaIdp(page, 'bea');
      await expectRefused(page, 'does not belong to the sign-in started in this browser', /^state mismatch$/, 'federation-refused-state');
      expect(await role('bea@example.com')).toBeUndefined();
    } finally {
      await context.close();
    }
  });

  it('[FED-CODE-REPLAY] the provider\'s answer replayed after a sign-in is refused', async () => {
    idp.accounts.set('cy', { email: 'cy@example.com', email_verified: true, groups: ['mcp-developers'] });
    const { context, page } = await atLogin();
    try {
      let answer = '';
      page.on('request', (r) => { if (r.url().includes('/federation/corporate-sso/callback?')) answer = r.url(); });
      await viaIdp(page, 'cy');
      expect(new URL(page.url()).pathname).toBe('/consent');
      await page.goto(answer);
      await expectRefused(page, 'was already completed', /^no sign-in in progress/, 'federation-refused-replay');
    } finally {
      await context.close();
    }
  });

  it('[OIDC-CORE-IDT-NONCE] an ID token with another nonce than this browser sent is refused', async () => {
    idp.accounts.set('dee', { email: 'dee@example.com', email_verified: true, groups: ['mcp-developers'] });
    const { context, page } = await atLogin();
    try {
      await rewriteRedirect(page, '**/federation/corporate-sso/start?*', (u) => u.searchParams.set('nonce', 'someone-elses-nonce-0123456789abcdef'));
      await viaIdp(page, 'dee');
      await expectRefused(page, 'Sign-in with Corporate SSO failed', /^ID token nonce mismatch/, 'federation-refused-nonce');
    } finally {
      await context.close();
    }
  });

  it('[FED-ISS] an answer naming another issuer (RFC 9207) is refused', async () => {
    idp.accounts.set('eve', { email: 'eve@example.com', email_verified: true, groups: ['mcp-developers'] });
    const { context, page } = await atLogin();
    try {
      await rewriteRedirect(page, `${idp.issuer}/auth/**`, (u) => u.searchParams.set('iss', 'https://attacker-idp.example'));
      await viaIdp(page, 'eve');
      await expectRefused(page, 'Sign-in with Corporate SSO failed', /^response iss mismatch/, 'federation-refused-issuer');
    } finally {
      await context.close();
    }
  });

  it('[FED-LINK-VERIFIED] an unverified email that matches a local account is refused', async () => {
    const local = await seedUser(s, 'developer', 'fay@example.com');
    idp.accounts.set('fay', { email: 'fay@example.com', email_verified: false, groups: ['mcp-admins'] });
    const { context, page } = await atLogin();
    try {
      await viaIdp(page, 'fay');
      await expectRefused(page, 'has not verified that the address is yours', /^unverified email matches a local account$/, 'federation-refused-unverified');
      expect(lastRefusal()?.user).toBe(local.id);
      expect(await role('fay@example.com')).toBe('developer');
    } finally {
      await context.close();
    }
  });
});
