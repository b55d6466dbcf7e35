import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, CDPSession, Page } from 'playwright-core';
import { freePort, startAuthServer, type TestAuthServer } from '../../apps/auth-server/test/helpers.ts';
import { PASSWORD, seedClient, seedUser, validParams } from '../../apps/auth-server/test/authorize-flow.ts';
import { totpAt } from '../../apps/auth-server/test/totp-code.ts';
import { launchChromium, screenshot, watchPage, type PageWatch } from '../helpers/chromium.ts';
import { auditPage } from './page-audit.ts';

/**
 * Passkeys in real Chromium with its virtual authenticator (DevTools WebAuthn domain): a role that
 * requires a second factor enrolls one at sign-in, then signs in with it; the server's relying-party
 * checks (challenge once, origin, RP ID, user verification, signature counter) hold. The issuer is
 * http://localhost:PORT: an IP address cannot be a WebAuthn RP ID, and localhost is a secure context.
 */
describe('passkeys (Chromium virtual authenticator)', () => {
  let browser: Browser;
  let s: TestAuthServer;
  let dir: string;
  let origin: string;
  let client: { id: string; redirectUris: string[] };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-passkeys-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(file, `${readFileSync(new URL('../../stack.yaml', import.meta.url), 'utf8')}\nmfa:\n  required_roles: [admin]\n`);
    const port = await freePort();
    origin = `http://localhost:${port}`;
    browser = await launchChromium();
    s = await startAuthServer({ STACK_FILE: file, AUTH_PORT: String(port), AUTH_ISSUER: origin });
    client = await seedClient(s, { redirectUris: ['http://127.0.0.1/callback'] });
  });
  afterAll(async () => {
    await browser?.close();
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const authorize = () => {
    const u = new URL('/authorize', origin);
    for (const [k, v] of Object.entries(validParams(client.id, client.redirectUris[0]!))) u.searchParams.set(k, v);
    return u.toString();
  };

  interface Tab { context: BrowserContext; page: Page; cdp: CDPSession; authenticatorId: string; watch: PageWatch }

  /** A page with a virtual platform authenticator: resident keys, user verification that always succeeds. */
  async function tab(): Promise<Tab> {
    const context = await browser.newContext({ viewport: { width: 375, height: 800 }, colorScheme: 'light' });
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    const watch = await watchPage(page);
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });
    return { context, page, cdp, authenticatorId, watch };
  }

  async function password(page: Page, email: string): Promise<void> {
    await page.goto(authorize());
    await page.getByLabel('Email').fill(email);
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForLoadState('load');
  }

  const passkeyRows = (userId: string) => s.sql<{ id: string; counter: number; last_used_at: number | null; name: string }>('select id, counter, last_used_at, name from passkeys where user_id = ?', userId);

  it('[WEBAUTHN-REGISTER] [MFA-REQUIRED-ENROLL] an admin without a factor registers a passkey at /login/enroll, sees the recovery codes once, then reaches consent', async () => {
    const admin = await seedUser(s, 'admin');
    const t = await tab();
    try {
      await password(t.page, admin.email);
      expect(new URL(t.page.url()).pathname).toBe('/login/enroll');
      const a = await auditPage(t.page);
      expect(a.unlabeled).toEqual([]);
      expect(a.overflows, 'horizontal scroll at 375 px').toBe(false);
      await screenshot(t.page, 'mfa-enroll-phone');
      await t.page.getByLabel('Name for this passkey').fill('Test laptop');
      await t.page.getByRole('button', { name: 'Add a passkey' }).click();
      await t.page.waitForURL(/\/login\/enroll-passkey$/);
      expect(await t.page.getByRole('heading', { level: 1 }).textContent()).toBe('Save your recovery codes');
      expect(await t.page.locator('.codes li').count()).toBe(10);
      await screenshot(t.page, 'mfa-recovery-codes-phone');
      await t.page.getByRole('button', { name: 'I have saved them, continue' }).click();
      await t.page.waitForURL(/\/consent\?/);
      const rows = await passkeyRows(admin.id);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.name).toBe('Test laptop');
      const { credentials } = await t.cdp.send('WebAuthn.getCredentials', { authenticatorId: t.authenticatorId });
      expect(credentials).toHaveLength(1);
      expect(credentials[0]!.rpId).toBe('localhost');
      expect(Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url')).toBe(rows[0]!.id);
      expect(s.auditEvents().filter((e) => e.user === admin.id && e.event === 'mfa.enrolled')).toEqual([expect.objectContaining({ method: 'passkey' })]);
      expect(t.watch.cspViolations).toEqual([]);
      expect(t.watch.consoleErrors).toEqual([]);
      expect(t.watch.foreign([origin]).filter((u) => !u.startsWith('http://127.0.0.1/callback'))).toEqual([]);
      expect(t.watch.requests).toContain(`${origin}/assets/webauthn-browser.js`);
    } finally {
      await t.context.close();
    }
  });

  it('[WEBAUTHN-AUTHENTICATE] [WEBAUTHN-CHALLENGE-ONCE] [WEBAUTHN-COUNTER] signs in with the passkey at /login/mfa; a replayed answer and a counter that did not grow are refused', async () => {
    const admin = await seedUser(s, 'admin');
    const t = await tab();
    try {
      // Enroll (as above), then sign in again in a fresh session with the same authenticator.
      await password(t.page, admin.email);
      await t.page.getByRole('button', { name: 'Add a passkey' }).click();
      await t.page.getByRole('button', { name: 'I have saved them, continue' }).click();
      await t.page.waitForURL(/\/consent\?/);
      await t.context.clearCookies();

      await password(t.page, admin.email);
      expect(new URL(t.page.url()).pathname).toBe('/login/mfa');
      expect(t.page.url()).not.toContain('consent');
      await screenshot(t.page, 'mfa-verify-phone');
      let answer = '';
      await t.page.route('**/login/passkey', async (route) => {
        answer = new URLSearchParams(route.request().postData() ?? '').get('response') ?? '';
        await route.continue();
      });
      await t.page.getByRole('button', { name: 'Use a passkey' }).click();
      await t.page.waitForURL(/\/consent\?/);
      const [row] = await passkeyRows(admin.id);
      expect(row!.last_used_at).not.toBeNull();
      expect(row!.counter).toBeGreaterThan(0);
      expect(s.auditEvents().filter((e) => e.user === admin.id && e.event === 'mfa.succeeded').at(-1)).toMatchObject({ method: 'passkey' });
      expect(s.auditEvents().filter((e) => e.user === admin.id && e.event === 'login.succeeded').at(-1)).toMatchObject({ mfa: 'passkey' });

      // The same answer again, in a new half sign-in: its challenge was spent.
      await t.context.clearCookies();
      await password(t.page, admin.email);
      const csrf = await t.page.locator('form[action="passkey"] input[name="_csrf"]').getAttribute('value');
      const replay = await t.page.request.post(`${origin}/login/passkey`, { form: { _csrf: csrf!, response: answer } });
      expect(replay.status()).toBe(200);
      expect(await replay.text()).toContain('The passkey could not be verified');
      expect(s.auditEvents().filter((e) => e.user === admin.id && e.event === 'mfa.failed').at(-1)).toMatchObject({ method: 'passkey', reason: expect.stringMatching(/challenge/i) });

      // A stored counter ahead of the authenticator's: a cloned authenticator, refused.
      await s.sql('update passkeys set counter = ? where user_id = ?', 1_000_000, admin.id);
      await t.page.reload();
      await t.page.getByRole('button', { name: 'Use a passkey' }).click();
      await t.page.waitForLoadState('load');
      await t.page.getByText('The passkey could not be verified').waitFor();
      expect(new URL(t.page.url()).pathname).toBe('/login/passkey');
      expect(s.auditEvents().filter((e) => e.user === admin.id && e.event === 'mfa.failed').at(-1)).toMatchObject({ method: 'passkey', reason: expect.stringMatching(/counter/i) });
    } finally {
      await t.context.close();
    }
  });

  it('[MFA-ACCOUNT-SECURITY] /account/security lists the passkey, refuses to remove the last factor of an admin, and adds an authenticator app beside it', async () => {
    const admin = await seedUser(s, 'admin');
    const t = await tab();
    try {
      await password(t.page, admin.email);
      await t.page.getByLabel('Name for this passkey').fill('Phone');
      await t.page.getByRole('button', { name: 'Add a passkey' }).click();
      await t.page.getByRole('button', { name: 'I have saved them, continue' }).click();
      await t.page.waitForURL(/\/consent\?/);
      await t.page.goto(`${origin}/account/security`);
      expect(await t.page.getByRole('heading', { level: 1 }).textContent()).toBe('Sign-in security');
      expect(await t.page.locator('.factors li').count()).toBe(1);
      const a = await auditPage(t.page);
      expect(a.unlabeled).toEqual([]);
      expect(a.unnamed).toEqual([]);
      expect(a.overflows).toBe(false);
      expect(a.contrast.filter((c) => c.ratio < 4.5)).toEqual([]);
      await screenshot(t.page, 'account-security-phone');
      await t.page.getByRole('button', { name: 'Remove passkey Phone' }).click();
      await t.page.waitForLoadState('load');
      expect(await t.page.locator('p.error:not([hidden])').textContent()).toContain('Your role requires a second step');
      expect(await passkeyRows(admin.id)).toHaveLength(1);
      // With an authenticator app beside it, the passkey may go.
      const key = ((await t.page.locator('code.secret').textContent()) ?? '').replace(/\s/g, '');
      await t.page.getByLabel('Code shown by the app').fill(totpAt(key, Date.now()));
      await t.page.getByRole('button', { name: 'Turn on the authenticator app' }).click();
      await t.page.getByText('The authenticator app is on.').waitFor();
      await t.page.getByRole('button', { name: 'Remove passkey Phone' }).click();
      await t.page.getByText('The passkey was removed.').waitFor();
      expect(await passkeyRows(admin.id)).toHaveLength(0);
      expect(t.watch.cspViolations).toEqual([]);
    } finally {
      await t.context.close();
    }
  });

  it('[RFC6238-REPLAY] [MFA-RECOVERY-CODES] [MFA-LOCKOUT] TOTP in Chromium: enrolled from /account/security, the code just used is refused, a recovery code signs in once, and 5 wrong codes lock the step', async () => {
    const dev = await seedUser(s, 'developer');
    const t = await tab();
    try {
      await t.page.goto(`${origin}/account/security`);
      expect(new URL(t.page.url()).pathname).toBe('/login');
      await t.page.getByLabel('Email').fill(dev.email);
      await t.page.getByLabel('Password').fill(PASSWORD);
      await t.page.getByRole('button', { name: 'Sign in' }).click();
      await t.page.waitForURL(/\/account\/security$/);
      const key = ((await t.page.locator('code.secret').textContent()) ?? '').replace(/\s/g, '');
      const code = totpAt(key, Date.now());
      await t.page.getByLabel('Code shown by the app').fill(code);
      await t.page.getByRole('button', { name: 'Turn on the authenticator app' }).click();
      const recovery = (await t.page.locator('.codes code').allTextContents());
      expect(recovery).toHaveLength(10);
      await t.context.clearCookies();

      await password(t.page, dev.email);
      expect(new URL(t.page.url()).pathname).toBe('/login/mfa');
      await t.page.getByLabel('Code from your authenticator app').fill(code);
      await t.page.getByRole('button', { name: 'Verify' }).click();
      await t.page.getByText('That code was used already').waitFor();
      await screenshot(t.page, 'mfa-code-replayed-phone');
      await t.page.getByLabel('Recovery code').fill(recovery[0]!);
      await t.page.getByRole('button', { name: 'Use a recovery code' }).click();
      await t.page.waitForURL(/\/consent\?/);
      await t.context.clearCookies();

      await password(t.page, dev.email);
      await t.page.getByLabel('Recovery code').fill(recovery[0]!);
      await t.page.getByRole('button', { name: 'Use a recovery code' }).click();
      await t.page.getByText('That recovery code is not right, or was used already.').waitFor();
      // The recovery code's success cleared the earlier failure: the spent code is one, four more wrong codes make five.
      for (let i = 0; i < 4; i++) {
        await t.page.getByLabel('Code from your authenticator app').fill('000000');
        await t.page.getByRole('button', { name: 'Verify' }).click();
        await t.page.getByText('That code is not right').waitFor();
      }
      await t.page.getByLabel('Code from your authenticator app').fill(totpAt(key, Date.now() + 30_000));
      await t.page.getByRole('button', { name: 'Verify' }).click();
      await t.page.getByRole('heading', { name: 'Too many attempts' }).waitFor();
      await screenshot(t.page, 'mfa-locked-phone');
      expect(new URL(t.page.url()).pathname).toBe('/login/mfa');
      expect(t.watch.cspViolations).toEqual([]);
    } finally {
      await t.context.close();
    }
  });
});
