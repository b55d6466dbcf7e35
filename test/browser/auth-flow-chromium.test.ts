import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { PASSWORD, RESOURCE, authorizeUrl, pkce, seedClient, seedUser, validParams } from '../../apps/auth-server/test/authorize-flow.ts';
import { launchChromium, startCallbackServer, watchPage, type CallbackServer, type PageWatch } from '../helpers/chromium.ts';

/**
 * The browser flow in real Chromium against a real authorization server: a loopback "client"
 * receives the authorization response, so every redirect, cookie and CSP rule is the browser's own.
 */

const SESSION_TTL = 60;
const STATE = 'st-123/+=?&x';

describe('authorization pages in Chromium', () => {
  let browser: Browser;
  let s: TestAuthServer;
  let cb: CallbackServer;
  let client: { id: string };
  let email: string;
  // The server's clock: moved forward to expire the session without waiting.
  let clock = Date.now();

  let context: BrowserContext;
  let page: Page;
  let watch: PageWatch;

  beforeAll(async () => {
    [browser, cb] = await Promise.all([launchChromium(), startCallbackServer()]);
    s = await startAuthServer({ SESSION_TTL_SECONDS: String(SESSION_TTL) }, { now: () => clock });
    // Registered without a port: loopback redirects accept any port (RFC 8252 §7.3).
    client = await seedClient(s, { name: 'Local CLI', redirectUris: ['http://127.0.0.1/callback'] });
  });
  afterAll(async () => {
    await browser?.close();
    await cb?.close();
    await s?.close();
  });
  beforeEach(async () => {
    // A fresh user per test: an earlier Allow is remembered and would skip the consent page.
    email = (await seedUser(s, 'developer')).email;
    context = await browser.newContext();
    context.setDefaultTimeout(5_000);
    page = await context.newPage();
    watch = await watchPage(page);
    cb.hits.length = 0;
  });
  afterEach(async () => {
    await context.close();
  });

  const redirectUri = () => `${cb.url}/callback`;

  async function signIn(password = PASSWORD): Promise<void> {
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  }

  async function startAt(extra: Record<string, string> = {}): Promise<void> {
    const res = await page.goto(authorizeUrl(s, validParams(client.id, redirectUri(), extra)));
    expect(res?.status()).toBe(200);
    expect(new URL(page.url()).pathname).toBe('/login');
  }

  it('[OAUTH21-STATE] [MCP-AS-ISS-RESPONSE] log in and allow: Chromium lands on the callback with code, state and iss, and the code works at /token', async () => {
    const { verifier, challenge } = pkce();
    await startAt({ code_challenge: challenge, scope: 'db:read db:write' });
    await signIn();
    expect(new URL(page.url()).pathname).toBe('/consent');
    expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe('Allow Local CLI to use your account?');

    // The POST → 303 to another origin is checked against form-action by Chromium.
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((u) => u.origin === cb.url);
    expect(new URL(page.url()).pathname).toBe('/callback');
    expect(await page.textContent('body')).toContain('Received.');
    expect(cb.hits).toHaveLength(1);
    const q = cb.hits[0]!;
    expect(q.get('state')).toBe(STATE);
    expect(q.get('iss')).toBe(s.url);
    const code = q.get('code');
    expect(code).toBeTruthy();
    expect(watch.cspViolations).toEqual([]);
    expect(watch.consoleErrors).toEqual([]);

    const res = await fetch(`${s.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'authorization_code', code: code!, redirect_uri: redirectUri(), code_verifier: verifier, client_id: client.id, resource: RESOURCE,
      }),
    });
    expect(res.status).toBe(200);
    const tokens = await res.json() as Record<string, unknown>;
    expect(tokens.token_type).toMatch(/^bearer$/i);
    expect(tokens.scope).toBe('db:read db:write');
    expect(typeof tokens.access_token).toBe('string');
  });

  it('[OAUTH21-STATE] [MCP-AS-ISS-RESPONSE] deny: the callback receives access_denied with state and iss, and no code', async () => {
    await startAt();
    await signIn();
    await page.getByRole('button', { name: 'Deny' }).click();
    await page.waitForURL((u) => u.origin === cb.url);
    expect(cb.hits).toHaveLength(1);
    const q = cb.hits[0]!;
    expect(q.get('error')).toBe('access_denied');
    expect(q.get('state')).toBe(STATE);
    expect(q.get('iss')).toBe(s.url);
    expect(q.has('code')).toBe(false);
    expect(watch.cspViolations).toEqual([]);
  });

  it('wrong password: the page shows the generic message and stays on the server; then the right password continues to consent', async () => {
    await startAt();
    await signIn('not the password');
    expect(new URL(page.url()).origin).toBe(s.url);
    expect((await page.getByRole('alert').textContent())?.trim()).toBe('The email or password is incorrect. Check both and try again.');
    // The email is kept so the person only retypes the password.
    expect(await page.getByLabel('Email').inputValue()).toBe(email);
    expect(await page.getByLabel('Password').inputValue()).toBe('');
    expect(cb.hits).toHaveLength(0);

    await signIn();
    expect(new URL(page.url()).pathname).toBe('/consent');
    await page.getByRole('button', { name: 'Allow' }).click();
    await page.waitForURL((u) => u.origin === cb.url);
    expect(cb.hits[0]!.get('code')).toBeTruthy();
  });

  it('expired session: Allow after the session ended shows a page that says so, and "Sign in again" completes the flow', async () => {
    await startAt();
    await signIn();
    expect(new URL(page.url()).pathname).toBe('/consent');
    clock += (SESSION_TTL + 1) * 1000;
    try {
      const response = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/consent');
      await page.getByRole('button', { name: 'Allow' }).click();
      expect((await response).status()).toBe(403);
      await page.waitForLoadState('load');
      expect(new URL(page.url()).origin).toBe(s.url);
      expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe('You were signed out');
      const text = (await page.textContent('main')) ?? '';
      expect(text).toContain('nothing was shared');
      expect(text).not.toMatch(/\.ts:\d+|Error:|stack/i);
      expect(cb.hits).toHaveLength(0);

      await page.getByRole('link', { name: 'Sign in again' }).click();
      await page.waitForLoadState('load');
      expect(new URL(page.url()).pathname).toBe('/login');
      await signIn();
      expect(new URL(page.url()).pathname).toBe('/consent');
      await page.getByRole('button', { name: 'Allow' }).click();
      await page.waitForURL((u) => u.origin === cb.url);
      expect(cb.hits[0]!.get('code')).toBeTruthy();
      expect(cb.hits[0]!.get('state')).toBe(STATE);
    } finally {
      clock = Date.now();
    }
  });

  it('[RFC9700-CSRF] a consent form without its CSRF token is refused with a 403 page that says what to do', async () => {
    await startAt();
    await signIn();
    await page.evaluate(() => document.querySelector('form[action="consent"] input[name="_csrf"]')?.remove());
    const response = page.waitForResponse((r) => r.request().method() === 'POST');
    await page.getByRole('button', { name: 'Allow' }).click();
    expect((await response).status()).toBe(403);
    await page.waitForLoadState('load');
    expect(new URL(page.url()).origin).toBe(s.url);
    expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe('This form could not be accepted');
    expect(await page.getByRole('alert').textContent()).toContain('start again');
    expect(cb.hits).toHaveLength(0);
  });

  it('[RFC9700-CSRF] a login form without its CSRF token is refused with a 403 page', async () => {
    await startAt();
    await page.evaluate(() => document.querySelector('input[name="_csrf"]')?.remove());
    const response = page.waitForResponse((r) => r.request().method() === 'POST');
    await signIn();
    expect((await response).status()).toBe(403);
    expect((await page.getByRole('heading', { level: 1 }).textContent())?.trim()).toBe('This form could not be accepted');
  });
});
