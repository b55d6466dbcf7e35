import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '@stack/crypto';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, hidden, seedUser } from './authorize-flow.ts';
import { addClient, jtiOf, login, refresh, revokedJtis, type TestClient } from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';

/** Signs `email` in through the standalone login form; returns the response of the POST. */
async function signIn(b: Browser, email: string, password = PASSWORD, next?: string): Promise<Response> {
  const page = await b.get(next ? `/login?next=${encodeURIComponent(next)}` : '/login');
  const html = await page.text();
  return b.post('/login', { _csrf: hidden(html, '_csrf'), next: hidden(html, 'next'), email, password });
}

async function accountPage(b: Browser): Promise<string> {
  const res = await b.get('/account');
  expect(res.status).toBe(200);
  return res.text();
}

/** The hidden `_csrf` of the form posting to `action` on `html`. */
function formCsrf(html: string, action: string): string {
  const form = new RegExp(`<form method="post" action="${action}">([\\s\\S]*?)</form>`).exec(html);
  if (!form) throw new Error(`no form posting to ${action}`);
  return hidden(form[1]!, '_csrf');
}

async function sessionRows(s: TestAuthServer, userId: string): Promise<string[]> {
  return (await s.sql<{ id_hash: string }>('select id_hash from sessions where user_id = ?', userId)).map((r) => r.id_hash);
}

describe('account lifecycle pages', () => {
  let s: TestAuthServer;
  let user: UserRecord;

  beforeAll(async () => {
    s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    user = await seedUser(s, 'developer');
  });
  afterAll(async () => { await s.close(); });

  it('[ACCT-STANDALONE-LOGIN] GET /login without a request shows the form and signing in goes to /account', async () => {
    const b = new Browser(s.url);
    const page = await b.get('/login');
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('to manage your account');
    expect(html).not.toContain('name="request"');
    expect(hidden(html, 'next')).toBe('/account');
    const res = await signIn(b, user.email);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('account');
    expect(s.auditEvents().some((e) => e.event === 'login.succeeded' && e.user === user.id && e.client === undefined)).toBe(true);
    const account = await accountPage(b);
    expect(account).toContain(user.email);
    // Signed in already: the standalone login page goes straight on.
    const again = await b.get('/login');
    expect(again.status).toBe(303);
    expect(again.headers.get('location')).toBe('account');
  });

  it('[ACCT-STANDALONE-LOGIN] `next` is kept only for our own account pages: other hosts and paths fall back to /account', async () => {
    for (const [next, expected] of [
      ['/account/security', 'account/security'],
      ['https://evil.example/account', 'account'],
      ['//evil.example/account', 'account'],
      ['/\\evil.example', 'account'],
      ['/account/../token', 'account'],
      ['/consent', 'account'],
    ] as const) {
      const b = new Browser(s.url);
      const res = await signIn(b, user.email, PASSWORD, next);
      expect(res.status, next).toBe(303);
      expect(res.headers.get('location'), next).toBe(expected);
    }
  });

  it('[ACCT-STANDALONE-LOGIN] a wrong password on the standalone form shows the same message and keeps no session', async () => {
    const b = new Browser(s.url);
    const res = await signIn(b, user.email, 'not the password at all');
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('The email or password is incorrect.');
    expect((await b.get('/account')).status).toBe(303);
  });

  it('[ACCT-ACCOUNT-PAGE] /account without a session redirects to the login page, coming back afterwards', async () => {
    const b = new Browser(s.url);
    const res = await b.get('/account');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('login?next=%2Faccount');
  });

  it('[ACCT-LOGOUT] GET /logout only asks; POST /logout with CSRF ends the session, clears the cookie and is audited', async () => {
    const b = new Browser(s.url);
    await signIn(b, user.email);
    const sid = b.cookies.get('sid')!;
    const confirm = await b.get('/logout');
    expect(confirm.status).toBe(200);
    const html = await confirm.text();
    expect(html).toContain('Sign out?');
    expect(await sessionRows(s, user.id)).toContain(tokenHash(sid));
    const res = await b.post('/logout', { _csrf: hidden(html, '_csrf') });
    expect(res.status).toBe(200);
    expect(res.headers.getSetCookie().some((c) => /^sid=;/.test(c) && /Expires=Thu, 01 Jan 1970/.test(c))).toBe(true);
    expect(await sessionRows(s, user.id)).not.toContain(tokenHash(sid));
    expect(s.auditEvents().some((e) => e.event === 'logout' && e.user === user.id)).toBe(true);
    // The old cookie no longer works even if a copy was kept.
    const replay = new Browser(s.url);
    replay.cookies.set('sid', sid);
    expect((await replay.get('/account')).status).toBe(303);
  });

  it('[ACCT-LOGOUT] the layout of every signed-in page carries a Sign out form; the metadata advertises no RP-initiated logout', async () => {
    const b = new Browser(s.url);
    await signIn(b, user.email);
    const html = await accountPage(b);
    expect(html).toMatch(/<form method="post" action="logout">\s*<input type="hidden" name="_csrf" value="[^"]+">\s*<button type="submit" class="link">Sign out<\/button>/);
    const meta = await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json() as Record<string, unknown>;
    expect(meta.end_session_endpoint).toBeUndefined();
  });

  it('[RFC9700-CLICKJACKING] [ACCT-ACCOUNT-PAGE] the account, sign-out and reset pages are unframeable, uncached and script-free like the login page', async () => {
    const b = new Browser(s.url);
    await signIn(b, user.email);
    for (const path of ['/login?next=/account', '/account', '/logout', '/reset-password?token=nope']) {
      // The login form as someone signed out sees it (signed in, it redirects on).
      const res = await (path.startsWith('/login') ? new Browser(s.url) : b).get(path);
      expect([200, 400], path).toContain(res.status);
      const csp = res.headers.get('content-security-policy') ?? '';
      expect(csp, path).toContain("frame-ancestors 'none'");
      expect(csp, path).toContain("default-src 'none'");
      expect(csp, path).not.toContain('unsafe-inline');
      expect(res.headers.get('x-frame-options'), path).toBe('DENY');
      expect(res.headers.get('cache-control'), path).toBe('no-store');
      expect(await res.text(), path).not.toMatch(/<script|style=/);
    }
  });

  it('[ACCT-CSRF] every form of the account pages is refused without its CSRF token, changing nothing', async () => {
    const b = new Browser(s.url);
    await signIn(b, user.email);
    const before = await sessionRows(s, user.id);
    for (const [path, form] of [
      ['/logout', {}],
      ['/account/sessions', { session: 'others' }],
      ['/account/apps', { client: 'anything' }],
      ['/account/password', { current_password: PASSWORD, new_password: 'a brand new password', confirm_password: 'a brand new password' }],
      ['/reset-password', { token: 'x'.repeat(43), new_password: 'a brand new password', confirm_password: 'a brand new password' }],
    ] as const) {
      const res = await b.post(path, form);
      expect(res.status, path).toBe(403);
      expect(await res.text()).toContain('This form could not be accepted');
    }
    expect(await sessionRows(s, user.id)).toEqual(before);
    expect((await b.get('/account')).status).toBe(200);
  });
});

describe('account page: sessions and applications', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let other: TestClient;

  beforeAll(async () => {
    s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    client = await addClient(s);
    other = await addClient(s);
  });
  afterAll(async () => { await s.close(); });

  const allow = (u: UserRecord, c: TestClient, scope = 'db:read db:write') =>
    s.app.ctx.store.consents.grant({ userId: u.id, clientId: c.id, resource: 'http://127.0.0.1:4999/mcp' }, scope.split(' '), Date.now());

  it('[ACCT-SESSIONS] lists the person\'s sessions with this one marked; sign out one, then everywhere else; another person\'s sessions stay', async () => {
    const user = await seedUser(s, 'developer');
    const someoneElse = await seedUser(s, 'developer');
    const [b1, b2, b3, theirs] = [new Browser(s.url), new Browser(s.url), new Browser(s.url), new Browser(s.url)];
    for (const b of [b1, b2, b3]) await signIn(b, user.email);
    await signIn(theirs, someoneElse.email);
    let html = await accountPage(b1);
    expect(html.match(/this browser/g)).toHaveLength(1);
    expect(html.match(/name="session" value="[A-Za-z0-9_-]{43}"/g)).toHaveLength(2);
    expect(html).toContain('Sign out everywhere else');

    // Another person's session id hash is not ours to end.
    const theirHash = tokenHash(theirs.cookies.get('sid')!);
    const r0 = await b1.post('/account/sessions', { _csrf: formCsrf(html, 'account/sessions'), session: theirHash });
    expect(r0.status).toBe(303);
    expect((await theirs.get('/account')).status).toBe(200);

    const b2Hash = tokenHash(b2.cookies.get('sid')!);
    const r1 = await b1.post('/account/sessions', { _csrf: formCsrf(html, 'account/sessions'), session: b2Hash });
    expect(r1.status).toBe(303);
    expect(r1.headers.get('location')).toBe('../account?done=session-ended');
    expect((await b2.get('/account')).status).toBe(303);
    expect((await b3.get('/account')).status).toBe(200);

    html = await accountPage(b1);
    const r2 = await b1.post('/account/sessions', { _csrf: formCsrf(html, 'account/sessions'), session: 'others' });
    expect(r2.status).toBe(303);
    expect((await b3.get('/account')).status).toBe(303);
    expect((await b1.get('/account')).status).toBe(200);
    expect((await theirs.get('/account')).status).toBe(200);
    expect(await sessionRows(s, user.id)).toEqual([tokenHash(b1.cookies.get('sid')!)]);
  });

  it('[ACCT-GRANT-REVOKE] Revoke forgets the consent and revokes this person\'s tokens for that client only: another user of the same client and another client are unaffected', async () => {
    const user = await seedUser(s, 'developer');
    const neighbour = await seedUser(s, 'developer');
    await allow(user, client);
    await allow(user, other);
    await allow(neighbour, client);
    const mine = await login(s, client, user);
    const mineElsewhere = await login(s, other, user);
    const theirs = await login(s, client, neighbour);

    const b = new Browser(s.url);
    await signIn(b, user.email);
    const html = await accountPage(b);
    expect(html).toContain(`value="${client.id}"`);
    expect(html).toContain(`value="${other.id}"`);
    expect(html).toContain('127.0.0.1:7777');
    expect(html).toContain('<code>db:write</code>');
    expect(html).not.toMatch(/last used never/);

    const res = await b.post('/account/apps', { _csrf: formCsrf(html, 'account/apps'), client: client.id });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('../account?done=revoked');
    const after = await (await b.get('/account?done=revoked')).text();
    expect(after).not.toContain(`value="${client.id}"`);
    expect(after).toContain(`value="${other.id}"`);
    expect(after).toContain('access was revoked');

    expect(await s.app.ctx.store.consents.find({ userId: user.id, clientId: client.id, resource: 'http://127.0.0.1:4999/mcp' })).toBeUndefined();
    expect(await s.app.ctx.store.consents.find({ userId: neighbour.id, clientId: client.id, resource: 'http://127.0.0.1:4999/mcp' })).toBe('db:read db:write');
    const revoked = await revokedJtis(s);
    expect(revoked).toContain(jtiOf(mine.access_token));
    expect(revoked).not.toContain(jtiOf(theirs.access_token));
    expect(revoked).not.toContain(jtiOf(mineElsewhere.access_token));
    expect((await refresh(s, client, String(mine.refresh_token))).status).toBe(400);
    expect((await refresh(s, client, String(theirs.refresh_token))).status).toBe(200);
    expect((await refresh(s, other, String(mineElsewhere.refresh_token))).status).toBe(200);
    const line = s.auditEvents().find((e) => e.event === 'grant.revoked' && e.user === user.id);
    expect(line).toMatchObject({ client: client.id, revoked_consents: '1', revoked_refresh: '1', revoked_access: '1' });
  });
});
