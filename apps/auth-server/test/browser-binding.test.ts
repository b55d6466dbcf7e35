import { describe, expect, it } from 'vitest';
import { tokenHash } from '@stack/crypto';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  Browser, authorizeUrl, decide, hidden, laxCookie, reachConsent, seedClient, startAuthorization, submitLogin, useFlowServer, validParams,
} from './authorize-flow.ts';

const OTHER_BROWSER = 'This sign-in was started in another browser. Start again from the application.';

/** Expects the "started in another browser" page: 400, HTML, no redirect. */
async function expectRefused(res: Response): Promise<void> {
  expect(res.status).toBe(400);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  expect(await res.text()).toContain(OTHER_BROWSER);
}

describe('pending requests are bound to the browser that started them', () => {
  let s: TestAuthServer;
  let client: { id: string; redirectUris: string[] };
  let email: string;
  useFlowServer((f) => ({ s, client, email } = f));

  const url = () => authorizeUrl(s, validParams(client.id, client.redirectUris[0]!));

  it('[RFC9700-CSRF] sets an HttpOnly, SameSite=Lax, Path=/ binding cookie for the pending lifetime and stores only its hash', async () => {
    const b = new Browser(s.url);
    const res = await b.get(url());
    expect(res.status).toBe(303);
    const cookie = laxCookie(res, 'flow');
    expect(cookie).toMatch(new RegExp(`; Max-Age=${s.config.authorize.ttlSeconds}(;|$)`));
    const value = b.cookies.get('flow')!;
    expect(value).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await s.sql<{ binding_hash: string; request: unknown }>('SELECT binding_hash, request FROM pending_authorizations');
    expect(rows.map((r) => r.binding_hash)).toContain(tokenHash(value));
    expect(JSON.stringify(rows)).not.toContain(value);
  });

  it('[RFC9700-CSRF] refuses the login page and the login form to a second browser opening the first browser\'s login URL, and the first browser still signs in', async () => {
    const attacker = new Browser(s.url);
    const { loginUrl, html } = await startAuthorization(attacker, url());
    const victim = new Browser(s.url);
    await expectRefused(await victim.get(loginUrl));
    // The victim's own CSRF pair (from a page it loaded itself) with the attacker's request id.
    const own = await startAuthorization(victim, url());
    const post = await victim.post('/login', { _csrf: hidden(own.html, '_csrf'), request: hidden(html, 'request'), email, password: 'correct horse battery staple' });
    await expectRefused(post);
    expect(post.headers.getSetCookie().some((c) => c.startsWith('sid='))).toBe(false);
    expect(s.auditEvents().some((e) => e.event === 'authorize.browser_mismatch' && e.decision === 'deny')).toBe(true);
    // The refusal consumed nothing: the browser that started the request continues.
    const login = await submitLogin(attacker, html, email);
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toMatch(/^consent\?request=/);
  });

  it('[RFC9700-CSRF] refuses the consent page and the consent form to a signed-in second browser, and issues no code', async () => {
    const attacker = new Browser(s.url);
    const { html: attackerLogin } = await startAuthorization(attacker, url());
    const consentUrl = `/consent?request=${encodeURIComponent(hidden(attackerLogin, 'request'))}`;
    const victim = new Browser(s.url);
    const { html: victimConsent } = await reachConsent(victim, url(), email);
    await expectRefused(await victim.get(consentUrl));
    const post = await victim.post('/consent', { _csrf: hidden(victimConsent, '_csrf'), request: hidden(attackerLogin, 'request'), decision: 'allow' });
    await expectRefused(post);
    // The victim's own request, in its own browser, still completes.
    const own = await decide(victim, victimConsent, 'allow');
    expect(own.status).toBe(303);
    expect(new URL(own.headers.get('location')!).searchParams.get('code')).toBeTruthy();
  });

  it('[RFC9700-CSRF] refuses the browser that started the request once its binding cookie is missing or altered', async () => {
    const b = new Browser(s.url);
    const { loginUrl } = await startAuthorization(b, url());
    const value = b.cookies.get('flow')!;
    b.cookies.delete('flow');
    await expectRefused(await b.get(loginUrl));
    b.cookies.set('flow', `${value.slice(0, -1)}${value.endsWith('A') ? 'B' : 'A'}`);
    await expectRefused(await b.get(loginUrl));
    b.cookies.set('flow', value);
    expect((await b.get(loginUrl)).status).toBe(200);
  });

  it('[RFC9700-CSRF] keeps two sign-ins open in two tabs of one browser valid', async () => {
    const b = new Browser(s.url);
    const first = await startAuthorization(b, url());
    const second = await startAuthorization(b, url());
    expect(hidden(first.html, 'request')).not.toBe(hidden(second.html, 'request'));
    // The second tab finishes first; the first tab's request is still bound to this browser.
    const secondLogin = await submitLogin(b, second.html, email);
    expect(secondLogin.headers.get('location')).toMatch(/^consent\?request=/);
    const firstConsent = await b.get(`/consent?request=${encodeURIComponent(hidden(first.html, 'request'))}`);
    expect(firstConsent.status).toBe(200);
    const allowed = await decide(b, await firstConsent.text(), 'allow');
    expect(allowed.status).toBe(303);
    expect(new URL(allowed.headers.get('location')!).searchParams.get('code')).toBeTruthy();
  });
});

describe('binding cookie with secure cookies', () => {
  it('[RFC9700-CSRF] is Secure and __Host- prefixed when the issuer is https', async () => {
    await using s = await startAuthServer({ AUTH_ISSUER: 'https://auth.example.test' });
    const client = await seedClient(s);
    const b = new Browser(s.url);
    const res = await b.get(authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)));
    expect(res.status).toBe(303);
    const cookie = res.headers.getSetCookie().find((c) => c.startsWith('__Host-flow='))!;
    expect(cookie).toMatch(/; Secure/);
    expect(cookie).toMatch(/; HttpOnly/);
    expect(cookie).toMatch(/; Path=\//);
    expect(cookie).not.toMatch(/Domain=/i);
  });
});
