import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '@stack/crypto';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, authorizeUrl, hidden, seedUser, startAuthorization, validParams } from './authorize-flow.ts';
import { admin } from './cli-helpers.ts';
import { addClient, jtiOf, login, refresh, revokedJtis, testClock, type TestClient } from './token-fixtures.ts';
import { verifyPassword, type UserRecord } from '../src/services/users.ts';
import { createSession } from '../src/services/sessions.ts';

const NEW_PASSWORD = 'a completely new passphrase';

async function signIn(b: Browser, email: string, password = PASSWORD): Promise<Response> {
  const html = await (await b.get('/login')).text();
  return b.post('/login', { _csrf: hidden(html, '_csrf'), next: hidden(html, 'next'), email, password });
}

describe('password change, reset links and the users commands', () => {
  let s: TestAuthServer;
  let env: Record<string, string>;
  let client: TestClient;
  const clock = testClock();

  beforeAll(async () => {
    s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '1000', REGISTRATION_MODE: 'closed' }, { now: clock.now });
    env = { ...s.dbEnv, DATA_DIR: s.dataDir, AUDIT_LOG: join(s.dataDir, 'cli-audit.log'), AUTH_ISSUER: s.url };
    client = await addClient(s);
  });
  afterAll(async () => { await s.close(); });

  const passwordWorks = async (u: UserRecord, pw: string) => (await verifyPassword(s.app.ctx, u.email, pw)) !== undefined;
  const sessionCount = async (u: UserRecord) => (await s.sql('select id_hash from sessions where user_id = ?', u.id)).length;

  async function changePassword(b: Browser, form: Record<string, string>): Promise<Response> {
    const html = await (await b.get('/account')).text();
    const csrf = hidden(/action="account\/password">([\s\S]*?)<\/form>/.exec(html)![1]!, '_csrf');
    return b.post('/account/password', { _csrf: csrf, ...form });
  }

  it('[ACCT-PASSWORD-CHANGE] refuses a wrong current password, a short or mismatched new one; a right one changes it and ends the other sessions only', async () => {
    const user = await seedUser(s, 'developer');
    const [b, other] = [new Browser(s.url), new Browser(s.url)];
    await signIn(b, user.email);
    await signIn(other, user.email);

    const wrong = await changePassword(b, { current_password: 'not my password at all', new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('The current password is incorrect.');
    expect(s.auditEvents().some((e) => e.event === 'password.change_failed' && e.user === user.id)).toBe(true);
    const short = await changePassword(b, { current_password: PASSWORD, new_password: 'too short', confirm_password: 'too short' });
    expect(short.status).toBe(400);
    expect(await short.text()).toContain('at least 12 characters');
    const differ = await changePassword(b, { current_password: PASSWORD, new_password: NEW_PASSWORD, confirm_password: `${NEW_PASSWORD}!` });
    expect(differ.status).toBe(400);
    expect(await passwordWorks(user, PASSWORD)).toBe(true);
    expect(await sessionCount(user)).toBe(2);

    const ok = await changePassword(b, { current_password: PASSWORD, new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe('../account?done=password');
    expect(await passwordWorks(user, NEW_PASSWORD)).toBe(true);
    expect(await passwordWorks(user, PASSWORD)).toBe(false);
    expect((await b.get('/account')).status).toBe(200);
    expect((await other.get('/account')).status).toBe(303);
    expect(s.auditEvents().find((e) => e.event === 'password.changed' && e.user === user.id)).toMatchObject({ sessions_ended: '1' });
  });

  it('[ACCT-PASSWORD-CHANGE] an account without a password (made at a federated sign-in) is offered no password form, and a posted one is refused', async () => {
    const user = { id: `fed-${Date.now()}`, email: `fed-${Date.now()}@example.com`, passwordHash: '', role: 'developer', createdAt: clock.now(), disabledAt: null };
    await s.app.ctx.store.users.insert(user);
    const b = new Browser(s.url);
    b.cookies.set('sid', (await createSession(s.app.ctx, user.id)).id);
    const html = await (await b.get('/account')).text();
    expect(html).toContain('have no password here');
    expect(html).not.toContain('action="account/password"');
    const res = await b.post('/account/password', { _csrf: hidden(html, '_csrf'), current_password: '', new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD });
    expect(res.status).toBe(400);
    expect((await s.app.ctx.store.users.findById(user.id))?.passwordHash).toBe('');
  });

  it('[ACCT-RESET-LINK] users reset-link prints a single-use link (only its hash stored, never in the audit line); the page sets the password, ends every session, and refuses the link afterwards', async () => {
    const user = await seedUser(s, 'developer');
    const signedIn = new Browser(s.url);
    await signIn(signedIn, user.email);
    const r = await admin(env, ['users', 'reset-link', '--email', user.email]);
    expect(r.code).toBe(0);
    const link = new URL(r.stdout.trim());
    expect(link.origin + link.pathname).toBe(`${s.url}/reset-password`);
    const token = link.searchParams.get('token')!;
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const rows = await s.sql<{ token_hash: string }>('select token_hash from password_resets where user_id = ?', user.id);
    expect(rows.map((x) => x.token_hash)).toEqual([tokenHash(token)]);
    expect(r.stderr).not.toContain(token);

    const b = new Browser(s.url);
    const page = await b.get(`${link.pathname}${link.search}`);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain(user.email);
    expect(html).toContain('<label for="new-password">');
    const form = { _csrf: hidden(html, '_csrf'), token: hidden(html, 'token'), new_password: NEW_PASSWORD, confirm_password: NEW_PASSWORD };
    const done = await b.post('/reset-password', form);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Your password was set');
    expect(await passwordWorks(user, NEW_PASSWORD)).toBe(true);
    expect((await signedIn.get('/account')).status).toBe(303);
    expect(s.auditEvents().some((e) => e.event === 'password.reset' && e.user === user.id)).toBe(true);

    // Used once: the same form again, and the link itself, are refused.
    const again = await b.post('/reset-password', { ...form, new_password: 'yet another passphrase', confirm_password: 'yet another passphrase' });
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('expired or was already used');
    expect((await b.get(`${link.pathname}${link.search}`)).status).toBe(400);
    expect(await passwordWorks(user, NEW_PASSWORD)).toBe(true);
    expect(s.auditEvents().some((e) => e.event === 'password.reset_refused')).toBe(true);
  });

  it('[ACCT-RESET-LINK] a link is refused after 30 minutes, and a newer link replaces an older one; unknown tokens are refused', async () => {
    const user = await seedUser(s, 'developer');
    const first = new URL((await admin(env, ['users', 'reset-link', '--email', user.email])).stdout.trim());
    const second = new URL((await admin(env, ['users', 'reset-link', '--email', user.email])).stdout.trim());
    const b = new Browser(s.url);
    expect((await b.get(`${first.pathname}${first.search}`)).status).toBe(400);
    expect((await b.get(`${second.pathname}${second.search}`)).status).toBe(200);
    expect((await b.get('/reset-password?token=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')).status).toBe(400);
    expect((await b.get('/reset-password')).status).toBe(400);
    clock.advance(31 * 60_000);
    try {
      expect((await b.get(`${second.pathname}${second.search}`)).status).toBe(400);
    } finally {
      clock.advance(-31 * 60_000);
    }
  });

  it('[ACCT-ADMIN-SET-PASSWORD] users set-password reads the password from stdin only, applies the rules of users add and ends the user\'s sessions', async () => {
    const user = await seedUser(s, 'developer');
    const b = new Browser(s.url);
    await signIn(b, user.email);
    const argv = await admin(env, ['users', 'set-password', '--email', user.email, '--password', NEW_PASSWORD]);
    expect(argv.code).not.toBe(0);
    expect(argv.stderr).toContain('not accepted as arguments');
    expect(argv.stderr).not.toContain(NEW_PASSWORD);
    const short = await admin(env, ['users', 'set-password', '--email', user.email, '--password-stdin'], 'short\n');
    expect(short.code).not.toBe(0);
    expect(short.stderr).toContain('at least 12 characters');
    expect(await passwordWorks(user, PASSWORD)).toBe(true);
    const ok = await admin(env, ['users', 'set-password', '--email', user.email, '--password-stdin'], `${NEW_PASSWORD}\n`);
    expect(ok).toMatchObject({ code: 0 });
    expect(ok.stdout).toContain('password set; 1 session(s) ended');
    expect(await passwordWorks(user, NEW_PASSWORD)).toBe(true);
    expect((await b.get('/account')).status).toBe(303);
    const missing = await admin(env, ['users', 'set-password', '--email', 'nobody@example.com', '--password-stdin'], `${NEW_PASSWORD}\n`);
    expect(missing.code).not.toBe(0);
  });

  it('[ACCT-ADMIN-DELETE] users delete removes the user, their sessions and consents and revokes their tokens; another user of the same client keeps theirs', async () => {
    const user = await seedUser(s, 'developer');
    const neighbour = await seedUser(s, 'developer');
    for (const u of [user, neighbour]) await s.app.ctx.store.consents.grant({ userId: u.id, clientId: client.id, resource: 'http://127.0.0.1:4999/mcp' }, ['db:read'], clock.now());
    const mine = await login(s, client, user);
    const theirs = await login(s, client, neighbour);
    const b = new Browser(s.url);
    await signIn(b, user.email);

    const r = await admin(env, ['users', 'delete', '--email', user.email]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('deleted; 1 consent(s) removed, 1 session(s), 1 refresh token(s) and 1 access token(s) revoked');
    expect(await s.sql('select id from users where id = ?', user.id)).toEqual([]);
    expect(await s.sql('select user_id from consents where user_id = ?', user.id)).toEqual([]);
    expect(await sessionCount(user)).toBe(0);
    expect((await b.get('/account')).status).toBe(303);
    const revoked = await revokedJtis(s);
    expect(revoked).toContain(jtiOf(mine.access_token));
    expect(revoked).not.toContain(jtiOf(theirs.access_token));
    expect((await refresh(s, client, String(mine.refresh_token))).status).toBe(400);
    expect((await refresh(s, client, String(theirs.refresh_token))).status).toBe(200);
    expect((await signIn(new Browser(s.url), user.email)).status).toBe(200);
    expect((await admin(env, ['users', 'delete', '--email', user.email])).code).not.toBe(0);
  });

  it('[ACCT-ADMIN-CLIENT-ADD] with dynamic registration off, clients add --grant-types authorization_code pre-registers a client people sign in to; redirect URIs are checked as registration checks them', async () => {
    expect((await fetch(`${s.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status).toBe(404);
    const bad = await admin(env, ['clients', 'add', '--name', 'Web app', '--grant-types', 'authorization_code', '--redirect-uris', 'http://app.example.com/cb']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/redirect/i);
    const r = await admin(env, ['clients', 'add', '--name', 'Web app', '--grant-types', 'authorization_code', '--redirect-uris', 'https://app.example.com/cb', '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as { client_id: string; client_secret?: string; grant_types: string[]; token_endpoint_auth_method: string };
    expect(info).toMatchObject({ grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' });
    expect(info.client_secret).toBeUndefined();
    expect((await s.app.ctx.store.clients.find(info.client_id))?.source).toBe('admin');
    const { html } = await startAuthorization(new Browser(s.url), authorizeUrl(s, validParams(info.client_id, 'https://app.example.com/cb')));
    expect(html).toContain('Web app');
    const confidential = await admin(env, ['clients', 'add', '--name', 'Server app', '--grant-types', 'authorization_code', '--redirect-uris', 'https://srv.example.com/cb', '--auth-method', 'client_secret_basic']);
    expect(confidential.code).toBe(0);
    expect(confidential.stdout).toMatch(/client secret \(shown once, store it now\): \S{20,}/);
  });
});
