import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secondFactorStep } from '../src/services/second-factor.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { base32Decode, totpAt } from './totp-code.ts';
import { Browser, PASSWORD, authorizeUrl, hidden, laxCookie, seedClient, seedUser, startAuthorization, submitLogin, validParams } from './authorize-flow.ts';

const secretOf = (html: string) => /<code class="secret">([^<]+)<\/code>/.exec(html)![1]!.replace(/\s/g, '');
const recoveryCodesOf = (html: string) => [...html.matchAll(/<li><code>([a-z0-9-]+)<\/code><\/li>/g)].map((m) => m[1]!);
const sessionCookie = (b: Browser) => b.cookies.get('sid') ?? '';

describe('second factor', () => {
  let dir: string;
  let s: TestAuthServer;
  let client: { id: string; redirectUris: string[] };
  // The server's clock: moved by whole TOTP steps so that each test's codes are fresh (or the same, for replay).
  let clock = Math.floor(Date.now() / 30_000) * 30_000 + 1_000;
  const nextStep = () => { clock += 30_000; };

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-mfa-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(file, `${readFileSync(new URL('../../../stack.yaml', import.meta.url), 'utf8')}\nmfa:\n  required_roles: [admin]\n  trust_federated_amr: [hwk, mfa]\n`);
    s = await startAuthServer({ STACK_FILE: file }, { now: () => clock });
    client = await seedClient(s);
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (b: Browser) => startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));

  /** Authorize and password: the 303 the login answers with. */
  async function password(b: Browser, email: string): Promise<Response> {
    const { html } = await start(b);
    return submitLogin(b, html, email);
  }

  /** A signed-in browser for `email` (no second factor yet): authorize, password, session. */
  async function signedIn(email: string): Promise<Browser> {
    const b = new Browser(s.url);
    const res = await password(b, email);
    expect(res.headers.get('location')).toMatch(/^(\.\.\/)?consent\?/);
    return b;
  }

  /** Turns TOTP on from /account/security; returns the secret and the recovery codes shown. */
  async function enrollTotp(b: Browser): Promise<{ secret: string; codes: string[] }> {
    const page = await b.get('/account/security');
    expect(page.status).toBe(200);
    const html = await page.text();
    const secret = secretOf(html);
    const res = await b.post('/account/totp', { _csrf: hidden(html, '_csrf'), code: totpAt(secret, clock) });
    expect(res.status).toBe(200);
    return { secret, codes: recoveryCodesOf(await res.text()) };
  }

  /** Password, then the /login/mfa page of the half sign-in. */
  async function toMfaPage(b: Browser, email: string): Promise<string> {
    const res = await password(b, email);
    expect(res.status).toBe(303);
    expect(b.resolve(res.headers.get('location')!, '/login')).toBe(`${s.url}/login/mfa`);
    const page = await b.get('/login/mfa');
    expect(page.status).toBe(200);
    return page.text();
  }

  const submitCode = (b: Browser, html: string, code: string, method = 'totp') => b.post('/login/mfa', { _csrf: hidden(html, '_csrf'), method, code });

  it('[RFC6238-TOTP] [RFC6238-SECRET-AT-REST] [MFA-RECOVERY-CODES] enrollment shows the key, its otpauth:// URI and a QR code, turns on with a first valid code, and shows 10 recovery codes once; the key is stored encrypted and the codes hashed', async () => {
    const user = await seedUser(s, 'developer');
    const b = await signedIn(user.email);
    const page = await b.get('/account/security');
    const html = await page.text();
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(page.headers.get('content-security-policy')).not.toContain('unsafe-inline');
    expect(html).not.toMatch(/<script>|<script [^>]*>[^<]/);
    const secret = secretOf(html);
    expect(base32Decode(secret)).toHaveLength(20);
    expect(html).toMatch(new RegExp(`otpauth://totp/127\\.0\\.0\\.1%3A\\d+:${encodeURIComponent(user.email)}\\?secret=${secret}&amp;issuer=127\\.0\\.0\\.1%3A\\d+&amp;algorithm=SHA1&amp;digits=6&amp;period=30`));
    expect(html).toMatch(/<svg role="img" aria-label="QR code of the authenticator key"/);
    // A wrong first code leaves it off.
    const wrong = await b.post('/account/totp', { _csrf: hidden(html, '_csrf'), code: totpAt(secret, clock + 300_000) });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('That code is not right');
    // Reloading shows the same key (the app already holds it).
    expect(secretOf(await (await b.get('/account/security')).text())).toBe(secret);
    const ok = await b.post('/account/totp', { _csrf: hidden(html, '_csrf'), code: totpAt(secret, clock) });
    const codes = recoveryCodesOf(await ok.text());
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const c of codes) expect(c).toMatch(/^[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}$/);
    const [row] = await s.sql<{ secret_envelope: string; confirmed_at: number }>('select secret_envelope, confirmed_at from totp_factors where user_id = ?', user.id);
    expect(row!.confirmed_at).toBe(clock);
    expect(JSON.stringify(row!.secret_envelope)).not.toContain(secret);
    const stored = await s.sql<{ code_hash: string }>('select code_hash from recovery_codes where user_id = ?', user.id);
    expect(stored).toHaveLength(10);
    for (const c of codes) expect(stored.map((r) => r.code_hash).join()).not.toContain(c);
    expect(s.auditEvents().filter((e) => e.event === 'mfa.enrolled' && e.user === user.id)).toEqual([expect.objectContaining({ method: 'totp' })]);
    // The page now says TOTP is on; the codes are not shown again.
    const after = await (await b.get('/account/security')).text();
    expect(after).toContain('Remove the authenticator app');
    expect(after).toContain('10 unused recovery codes');
    for (const c of codes) expect(after).not.toContain(c);
  });

  it('[MFA-STEP] [RFC6238-WINDOW] [MFA-AUDIT] with TOTP on, the password alone starts no session: a half sign-in in an HttpOnly cookie leads to /login/mfa, where a wrong code is refused and a valid one (±1 step) signs in', async () => {
    const user = await seedUser(s, 'developer');
    const { secret } = await enrollTotp(await signedIn(user.email));
    nextStep();
    nextStep();
    const b = new Browser(s.url);
    const res = await password(b, user.email);
    expect(res.headers.getSetCookie().some((c) => c.startsWith('sid='))).toBe(false);
    const half = laxCookie(res, 'mfa');
    expect(half).toMatch(/Max-Age=300/);
    expect(half).not.toContain(user.id);
    expect(s.auditEvents().filter((e) => e.user === user.id && e.event === 'login.succeeded')).toHaveLength(1);
    const html = await toMfaPage(b, user.email);
    expect(html).toContain('<label for="code">Code from your authenticator app</label>');
    expect(html).not.toMatch(/<script/);
    const wrong = await submitCode(b, html, totpAt(secret, clock + 120_000));
    expect(wrong.status).toBe(200);
    expect(await wrong.text()).toContain('That code is not right');
    expect(sessionCookie(b)).toBe('');
    // The code of the previous step is still accepted (§5.2: one step of delay).
    const ok = await submitCode(b, html, totpAt(secret, clock - 30_000));
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toMatch(/^(\.\.\/)?consent\?/);
    expect(sessionCookie(b)).not.toBe('');
    const events = s.auditEvents().filter((e) => e.user === user.id);
    expect(events.find((e) => e.event === 'mfa.failed')).toMatchObject({ method: 'totp', reason: 'wrong code', decision: 'deny' });
    expect(events.find((e) => e.event === 'mfa.succeeded')).toMatchObject({ method: 'totp', decision: 'allow' });
    expect(events.filter((e) => e.event === 'login.succeeded').at(-1)).toMatchObject({ method: 'password', mfa: 'totp' });
  });

  it('[RFC6238-REPLAY] a code accepted once is refused a second time, and so is an older one', async () => {
    const user = await seedUser(s, 'developer');
    const { secret } = await enrollTotp(await signedIn(user.email));
    nextStep();
    const b1 = new Browser(s.url);
    expect((await submitCode(b1, await toMfaPage(b1, user.email), totpAt(secret, clock))).status).toBe(303);
    const b2 = new Browser(s.url);
    const html = await toMfaPage(b2, user.email);
    const again = await submitCode(b2, html, totpAt(secret, clock));
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('That code was used already');
    const older = await submitCode(b2, html, totpAt(secret, clock - 30_000));
    expect(await older.text()).toContain('That code was used already');
    expect(s.auditEvents().filter((e) => e.user === user.id && e.event === 'mfa.failed').map((e) => e.reason)).toEqual(['code used already', 'code used already']);
    nextStep();
    expect((await submitCode(b2, html, totpAt(secret, clock))).status).toBe(303);
  });

  it('[MFA-LOCKOUT] [RFC6238-THROTTLE] after 5 wrong codes the second factor is locked: a clear 429 page with Retry-After, even for the right code', async () => {
    const user = await seedUser(s, 'developer');
    const { secret } = await enrollTotp(await signedIn(user.email));
    nextStep();
    const b = new Browser(s.url);
    const html = await toMfaPage(b, user.email);
    for (let i = 0; i < 5; i++) expect((await submitCode(b, html, '000000')).status).toBe(200);
    const locked = await submitCode(b, html, totpAt(secret, clock));
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(Number(locked.headers.get('retry-after'))).toBeLessThanOrEqual(900);
    expect(await locked.text()).toMatch(/Too many wrong codes or passkey attempts for this account\. Wait \d+ minutes?, then sign in again\./);
    expect(sessionCookie(b)).toBe('');
    // Recovery codes count against the same budget.
    expect((await submitCode(b, html, 'aaaa-bbbb-cccc-dddd', 'recovery_code')).status).toBe(429);
    expect(s.auditEvents().filter((e) => e.user === user.id && e.event === 'mfa.rate_limited')).toHaveLength(2);
  });

  it('[MFA-RECOVERY-CODES] a recovery code signs in once; regenerating from /account/security replaces them all', async () => {
    const user = await seedUser(s, 'developer');
    const account = await signedIn(user.email);
    const { codes } = await enrollTotp(account);
    const b1 = new Browser(s.url);
    const html1 = await toMfaPage(b1, user.email);
    const used = await submitCode(b1, html1, codes[3]!.toUpperCase().replaceAll('-', ' '), 'recovery_code');
    expect(used.status).toBe(303);
    expect(s.auditEvents().filter((e) => e.user === user.id && e.event === 'mfa.succeeded').at(-1)).toMatchObject({ method: 'recovery_code' });
    const b2 = new Browser(s.url);
    const html2 = await toMfaPage(b2, user.email);
    const again = await submitCode(b2, html2, codes[3]!, 'recovery_code');
    expect(again.status).toBe(200);
    expect(await again.text()).toContain('That recovery code is not right, or was used already.');
    expect(await (await account.get('/account/security')).text()).toContain('9 unused recovery codes');
    const page = await (await account.get('/account/security')).text();
    const fresh = recoveryCodesOf(await (await account.post('/account/recovery-codes', { _csrf: hidden(page, '_csrf') })).text());
    expect(fresh).toHaveLength(10);
    const b3 = new Browser(s.url);
    const html3 = await toMfaPage(b3, user.email);
    expect(await (await submitCode(b3, html3, codes[0]!, 'recovery_code')).text()).toContain('was used already');
    expect((await submitCode(b3, html3, fresh[0]!, 'recovery_code')).status).toBe(303);
  });

  it('[MFA-REQUIRED-ENROLL] a role that requires a second factor and has none must enroll after the password, with no way past it, before the sign-in goes on', async () => {
    const admin = await seedUser(s, 'admin');
    const b = new Browser(s.url);
    const res = await password(b, admin.email);
    expect(res.status).toBe(303);
    expect(b.resolve(res.headers.get('location')!, '/login')).toBe(`${s.url}/login/enroll`);
    expect(sessionCookie(b)).toBe('');
    // Nothing else gets past it: no session, so /authorize asks for the password again, and /login/continue refuses.
    expect((await b.get(authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)))).headers.get('location')).toMatch(/^login\?/);
    const page = await b.get('/login/enroll');
    const html = await page.text();
    expect(html).toContain('Your role requires a second step');
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await b.post('/login/continue', { _csrf: hidden(html, '_csrf') })).status).toBe(400);
    const secret = secretOf(html);
    const wrong = await b.post('/login/enroll', { _csrf: hidden(html, '_csrf'), code: '123456' === totpAt(secret, clock) ? '654321' : '123456' });
    expect(await wrong.text()).toContain('That code is not right');
    const ok = await b.post('/login/enroll', { _csrf: hidden(html, '_csrf'), code: totpAt(secret, clock) });
    const codesPage = await ok.text();
    expect(recoveryCodesOf(codesPage)).toHaveLength(10);
    expect(sessionCookie(b)).toBe('');
    const done = await b.post('/login/continue', { _csrf: hidden(codesPage, '_csrf') });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toMatch(/^(\.\.\/)?consent\?/);
    expect(sessionCookie(b)).not.toBe('');
    // Once enrolled, the enrollment page is closed: a half sign-in must pass the factor at /login/mfa.
    nextStep();
    const b2 = new Browser(s.url);
    const again = await password(b2, admin.email);
    expect(b2.resolve(again.headers.get('location')!, '/login')).toBe(`${s.url}/login/mfa`);
    expect((await b2.get('/login/enroll')).status).toBe(400);
    expect((await b2.post('/login/enroll', { _csrf: hidden(html, '_csrf'), code: totpAt(secret, clock) })).status).toBe(403);
  });

  it('[MFA-ACCOUNT-SECURITY] removing a factor needs the session, and the last factor of a role that requires one is refused', async () => {
    const anonymous = await new Browser(s.url).get('/account/security');
    expect(anonymous.status).toBe(303);
    expect(anonymous.headers.get('location')).toBe('../login?next=%2Faccount%2Fsecurity');
    const dev = await seedUser(s, 'developer');
    const devBrowser = await signedIn(dev.email);
    const { secret } = await enrollTotp(devBrowser);
    const admin = await seedUser(s, 'admin');
    const adminBrowser = new Browser(s.url);
    const enroll = await (await (await password(adminBrowser, admin.email), adminBrowser.get('/login/enroll'))).text();
    const adminSecret = secretOf(enroll);
    const codesPage = await (await adminBrowser.post('/login/enroll', { _csrf: hidden(enroll, '_csrf'), code: totpAt(adminSecret, clock) })).text();
    await adminBrowser.post('/login/continue', { _csrf: hidden(codesPage, '_csrf') });
    const adminPage = await (await adminBrowser.get('/account/security')).text();
    expect(adminPage).toContain('Your role requires a second step at sign-in');
    const refused = await adminBrowser.post('/account/totp-remove', { _csrf: hidden(adminPage, '_csrf') });
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('add a passkey before removing the authenticator app');
    expect(await s.sql('select 1 from totp_factors where user_id = ?', admin.id)).toHaveLength(1);
    // A developer may turn it off; the recovery codes go with the last factor.
    const devPage = await (await devBrowser.get('/account/security')).text();
    const removed = await devBrowser.post('/account/totp-remove', { _csrf: hidden(devPage, '_csrf') });
    expect(removed.status).toBe(200);
    expect(await removed.text()).toContain('The authenticator app was removed.');
    expect(await s.sql('select 1 from totp_factors where user_id = ? and confirmed_at is not null', dev.id)).toHaveLength(0);
    expect(await s.sql('select 1 from recovery_codes where user_id = ?', dev.id)).toHaveLength(0);
    expect(s.auditEvents().filter((e) => e.event === 'mfa.removed' && e.user === dev.id)).toHaveLength(1);
    expect(s.auditEvents().filter((e) => e.event === 'mfa.remove_refused' && e.user === admin.id)).toHaveLength(1);
    expect(secret).not.toBe(adminSecret);
    // Without a session nothing is removed.
    const stranger = new Browser(s.url);
    const { html: loginPage } = await start(stranger);
    expect((await stranger.post('/account/totp-remove', { _csrf: hidden(loginPage, '_csrf') })).status).toBe(401);
  });

  it('[MFA-CSRF] every second-factor and account-security form refuses a post without its CSRF token', async () => {
    const user = await seedUser(s, 'developer');
    const b = await signedIn(user.email);
    await enrollTotp(b);
    await toMfaPage(b, user.email);
    for (const path of ['/login/mfa', '/login/passkey', '/login/enroll', '/login/enroll-passkey', '/login/continue', '/account/totp', '/account/totp-remove', '/account/passkeys', '/account/passkey-remove', '/account/recovery-codes']) {
      const res = await b.post(path, { code: '123456', response: '{}', id: 'x' });
      expect(res.status, path).toBe(403);
      expect(await res.text(), path).toContain('This form could not be accepted');
    }
    expect(await s.sql('select 1 from totp_factors where user_id = ?', user.id)).toHaveLength(1);
  });

  it('[MFA-STEP] a half sign-in lasts 5 minutes: after that the second step asks to start again', async () => {
    const user = await seedUser(s, 'developer');
    const { secret } = await enrollTotp(await signedIn(user.email));
    nextStep();
    const b = new Browser(s.url);
    const html = await toMfaPage(b, user.email);
    clock += 301_000;
    const res = await submitCode(b, html, totpAt(secret, clock));
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('The second step must follow the password within 5 minutes.');
    expect(sessionCookie(b)).toBe('');
  });

  it('[MFA-STEP] a standalone sign-in (no authorization request) passes the second step too, then goes to its next page', async () => {
    const user = await seedUser(s, 'developer');
    const { secret } = await enrollTotp(await signedIn(user.email));
    nextStep();
    const b = new Browser(s.url);
    const login = await b.get('/login?next=%2Faccount%2Fsecurity');
    const form = await login.text();
    const res = await b.post('/login', { _csrf: hidden(form, '_csrf'), next: hidden(form, 'next'), email: user.email, password: PASSWORD });
    expect(b.resolve(res.headers.get('location')!, '/login')).toBe(`${s.url}/login/mfa`);
    expect(sessionCookie(b)).toBe('');
    const html = await (await b.get('/login/mfa')).text();
    const ok = await submitCode(b, html, totpAt(secret, clock));
    expect(ok.status).toBe(303);
    expect(b.resolve(ok.headers.get('location')!, '/login/mfa')).toBe(`${s.url}/account/security`);
    const page = await b.get('/account/security');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('Remove the authenticator app');
  });

  it('[MFA-SESSION-POLICY] a session opened without a second factor stops counting once the role requires one: no account page, no consent, a new sign-in through the second step', async () => {
    const user = await seedUser(s, 'developer');
    const b = await signedIn(user.email);
    expect((await b.get('/account')).status).toBe(200);
    await s.app.ctx.store.users.setRole(user.id, 'admin');
    const account = await b.get('/account');
    expect(account.status).toBe(303);
    expect(b.resolve(account.headers.get('location')!, '/account')).toMatch(new RegExp(`^${s.url}/login`));
    // The authorization request asks for the password again instead of going to consent…
    const { html } = await start(b);
    expect(html).toContain('name="password"');
    // …and the password leads to the second factor (enrollment: none set up), with no session yet.
    const res = await submitLogin(b, html, user.email);
    expect(b.resolve(res.headers.get('location')!, '/login')).toBe(`${s.url}/login/enroll`);
    expect((await b.get('/account')).status).toBe(303);
  });

  it('[MFA-FEDERATED-AMR] an upstream sign-in whose amr holds a trusted value needs no second step here; any other goes through it', async () => {
    const admin = await seedUser(s, 'admin');
    const dev = await seedUser(s, 'developer');
    expect(await secondFactorStep(s.app.ctx, admin, ['pwd', 'hwk'])).toBe('none');
    expect(await secondFactorStep(s.app.ctx, admin, ['pwd'])).toBe('enroll');
    expect(await secondFactorStep(s.app.ctx, admin, undefined)).toBe('enroll');
    expect(await secondFactorStep(s.app.ctx, dev, ['pwd'])).toBe('none');
    await enrollTotp(await signedIn(dev.email));
    expect(await secondFactorStep(s.app.ctx, dev, ['pwd'])).toBe('verify');
    expect(await secondFactorStep(s.app.ctx, dev, ['mfa'])).toBe('none');
  });
});
