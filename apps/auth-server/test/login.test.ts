import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '@stack/crypto';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  Browser, PASSWORD, authorizeUrl, hidden, laxCookie, seedClient, seedUser, startAuthorization, submitLogin, validParams,
} from './authorize-flow.ts';

const PAGE_CSP_START = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'";

describe('login page', () => {
  let s: TestAuthServer;
  let client: { id: string; redirectUris: string[] };
  let email: string;
  let userId: string;

  beforeAll(async () => {
    s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '3', LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    client = await seedClient(s);
    const u = await seedUser(s, 'developer');
    email = u.email;
    userId = u.id;
  });
  afterAll(async () => { await s.close(); });

  const start = (b: Browser) => startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));

  it('[RFC9700-CLICKJACKING] serves an accessible, unframeable, uncached HTML form with labelled email and password fields', async () => {
    const b = new Browser(s.url);
    const { loginUrl, html } = await start(b);
    const res = await b.get(loginUrl);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html; charset=utf-8/);
    const csp = res.headers.get('content-security-policy')!;
    expect(csp.startsWith(PAGE_CSP_START)).toBe(true);
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("base-uri 'none'");
    expect(csp).not.toContain('unsafe-inline');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(html).toMatch(/<html lang="en">/);
    expect(html).toContain('<meta name="viewport" content="width=device-width, initial-scale=1">');
    expect(html).toContain('<label for="email">');
    expect(html).toContain('<label for="password">');
    expect(html).toMatch(/<input id="email" name="email" type="email"/);
    expect(html).toMatch(/<input id="password" name="password" type="password"/);
    expect(html).not.toMatch(/<script|style=/);
    expect(html).toContain('Example App');
    const css = await fetch(`${s.url}/assets/app.css`);
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toMatch(/^text\/css/);
  });

  it('escapes the client name (autoEscape)', async () => {
    const evil = await seedClient(s, { name: '<img src=x onerror=alert(1)>' });
    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(evil.id, evil.redirectUris[0]!)));
    expect(html).not.toContain('<img src=x');
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
  });

  it('[RFC9700-BRUTE-FORCE] gives the same response for a wrong password and an unknown email', async () => {
    const b1 = new Browser(s.url);
    const b2 = new Browser(s.url);
    const other = await seedUser(s, 'viewer');
    const p1 = await start(b1);
    const p2 = await start(b2);
    const wrong = await submitLogin(b1, p1.html, other.email, 'not the password at all');
    const unknown = await submitLogin(b2, p2.html, 'nobody@example.com', 'not the password at all');
    expect(wrong.status).toBe(unknown.status);
    expect(wrong.status).toBe(200);
    const normalise = async (r: Response, e: string) => (await r.text())
      .replace(/name="_csrf" value="[^"]*"/, 'CSRF').replace(/name="request" value="[^"]*"/, 'REQ').replaceAll(e, 'EMAIL');
    const a = await normalise(wrong, other.email);
    const c = await normalise(unknown, 'nobody@example.com');
    expect(a).toBe(c);
    expect(a).toContain('The email or password is incorrect.');
    expect(wrong.headers.get('set-cookie')).toBe(unknown.headers.get('set-cookie'));
    const failed = s.auditEvents().filter((e) => e.event === 'login.failed');
    expect(failed.find((e) => e.user === other.id)?.reason).toBe('wrong password');
    expect(failed.find((e) => e.reason === 'unknown email')?.user).toBeUndefined();
    expect(JSON.stringify(s.auditEvents())).not.toContain('not the password at all');
  });

  it('[RFC9700-BRUTE-FORCE] locks an account after LOGIN_MAX_FAILURES_PER_ACCOUNT failures, even for the right password, and says to wait', async () => {
    const victim = await seedUser(s, 'viewer');
    for (let i = 0; i < 3; i++) {
      const b = new Browser(s.url);
      const res = await submitLogin(b, (await start(b)).html, victim.email, `wrong-${i}`);
      expect(await res.text()).toContain('The email or password is incorrect.');
    }
    const b = new Browser(s.url);
    const locked = await submitLogin(b, (await start(b)).html, victim.email.toUpperCase(), PASSWORD);
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(0);
    const text = await locked.text();
    expect(text).toContain('Too many sign-in attempts');
    expect(locked.headers.get('set-cookie') ?? '').not.toContain('sid=');
    expect(s.auditEvents().some((e) => e.event === 'login.rate_limited')).toBe(true);

    // An unknown email is locked the same way, so the lockout does not reveal which accounts exist.
    for (let i = 0; i < 3; i++) {
      const bb = new Browser(s.url);
      await submitLogin(bb, (await start(bb)).html, 'ghost@example.com', `wrong-${i}`);
    }
    const bb = new Browser(s.url);
    const ghost = await submitLogin(bb, (await start(bb)).html, 'ghost@example.com', PASSWORD);
    expect(ghost.status).toBe(429);
    expect(await ghost.text()).toBe(text);
  });

  it('[RFC9700-BRUTE-FORCE] parallel guesses cannot overshoot the per-account limit', async () => {
    const target = await seedUser(s, 'viewer');
    const pages = await Promise.all(Array.from({ length: 8 }, async () => {
      const b = new Browser(s.url);
      return { b, html: (await start(b)).html };
    }));
    const results = await Promise.all(pages.map(({ b, html }, i) => submitLogin(b, html, target.email, `guess-${i}`)));
    const statuses = results.map((r) => r.status).sort();
    expect(statuses.filter((x) => x === 200).length).toBe(3);
    expect(statuses.filter((x) => x === 429).length).toBe(5);
  });

  it('[RFC9700-CSRF] refuses a login POST with a missing or wrong CSRF token, or without the CSRF cookie, with a 403 page', async () => {
    const b = new Browser(s.url);
    const { html } = await start(b);
    const request = hidden(html, 'request');
    const missing = await b.post('/login', { request, email, password: PASSWORD });
    expect(missing.status).toBe(403);
    expect(missing.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await missing.text()).toContain('This form could not be accepted');
    const wrong = await b.post('/login', { _csrf: 'abc-def', request, email, password: PASSWORD });
    expect(wrong.status).toBe(403);
    const noCookie = new Browser(s.url);
    const cross = await noCookie.post('/login', { _csrf: hidden(html, '_csrf'), request, email, password: PASSWORD });
    expect(cross.status).toBe(403);
    expect(cross.headers.get('location')).toBeNull();
  });

  it('[OAUTH21-DUPLICATE-PARAMS] refuses a repeated form parameter with a 400 page', async () => {
    const b = new Browser(s.url);
    const { html } = await start(b);
    const body = new URLSearchParams([['_csrf', hidden(html, '_csrf')], ['request', hidden(html, 'request')], ['email', email], ['email', 'x@example.com'], ['password', PASSWORD]]);
    const res = await fetch(`${s.url}/login`, {
      method: 'POST', redirect: 'manual', body: body.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
    });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('is included more than once');
  });

  it('creates an HttpOnly, SameSite=Lax, Path=/ session cookie whose id is stored only as its SHA-256, and a new one at every login', async () => {
    const b = new Browser(s.url);
    const first = await submitLogin(b, (await start(b)).html, email);
    expect(first.status).toBe(303);
    const cookie = laxCookie(first, 'sid');
    expect(cookie).toMatch(new RegExp(`; Max-Age=${s.config.sessionTtl}`));
    expect(cookie).not.toMatch(/; Secure/);
    const id1 = b.cookies.get('sid')!;
    const rows = () => s.sql<{ id_hash: string }>('select id_hash from sessions where user_id = ?', userId);
    expect((await rows()).map((r) => r.id_hash)).toContain(tokenHash(id1));
    expect(JSON.stringify(await rows())).not.toContain(id1);

    // Logging in again with the old cookie: new id, old session gone (session fixation).
    const again = await submitLogin(b, (await start(b)).html, email);
    expect(again.status).toBe(303);
    const id2 = b.cookies.get('sid')!;
    expect(id2).not.toBe(id1);
    const hashes = (await rows()).map((r) => r.id_hash);
    expect(hashes).toContain(tokenHash(id2));
    expect(hashes).not.toContain(tokenHash(id1));
    expect(s.auditEvents().some((e) => e.event === 'login.succeeded' && e.user === userId)).toBe(true);
  });

  it('[HARD-LOGIN-DEVICE-BUDGET] sets a long-lived, HttpOnly, SameSite=Lax device cookie at a successful login only, holding no email', async () => {
    const b = new Browser(s.url);
    const failed = await submitLogin(b, (await start(b)).html, email, 'not it');
    expect(failed.headers.getSetCookie().some((c) => c.startsWith('device='))).toBe(false);
    const res = await submitLogin(b, (await start(b)).html, email);
    expect(res.status).toBe(303);
    const cookie = laxCookie(res, 'device');
    expect(cookie).toMatch(new RegExp(`; Max-Age=${s.config.login.deviceCookieTtlSeconds}`));
    expect(s.config.login.deviceCookieTtlSeconds).toBe(90 * 86400);
    expect(cookie).not.toContain(encodeURIComponent(email));
    expect(cookie.toLowerCase()).not.toContain(email.split('@')[0]!.toLowerCase());
  });

  it('shows an expiry page for an unknown request id', async () => {
    const res = await fetch(`${s.url}/login?request=nope`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('This sign-in request has expired');
  });
});

describe('secure cookies', () => {
  it('marks session and CSRF cookies Secure with the __Host- prefix when the issuer is https', async () => {
    await using s = await startAuthServer({ AUTH_ISSUER: 'https://auth.example.test' });
    expect(s.config.secureCookies).toBe(true);
    const client = await seedClient(s);
    const user = await seedUser(s, 'viewer');
    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
    expect([...b.cookies.keys()]).toContain('__Host-csrf');
    const res = await submitLogin(b, html, user.email);
    expect(res.status).toBe(303);
    const cookie = laxCookie(res, '__Host-sid');
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).not.toMatch(/Domain=/i);
    // [HARD-LOGIN-DEVICE-BUDGET] the device cookie likewise.
    const device = laxCookie(res, '__Host-device');
    expect(device).toMatch(/; Secure/);
    expect(device).not.toMatch(/Domain=/i);
  });

  it('[RFC9700-BRUTE-FORCE] limits failures per address across accounts', async () => {
    await using s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '2' });
    const client = await seedClient(s);
    const user = await seedUser(s, 'viewer');
    const go = async (e: string, p: string) => {
      const b = new Browser(s.url);
      const { html } = await startAuthorization(b, authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
      return submitLogin(b, html, e, p);
    };
    expect((await go('a@example.com', 'x')).status).toBe(200);
    expect((await go('b@example.com', 'x')).status).toBe(200);
    expect((await go(user.email, PASSWORD)).status).toBe(429);
  });
});
