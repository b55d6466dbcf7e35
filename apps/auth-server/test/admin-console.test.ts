import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSession } from '../src/services/sessions.ts';
import type { UserRecord } from '../src/services/users.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, PASSWORD, hidden, seedUser } from './authorize-flow.ts';
import { addClient, jtiOf, login, revokedJtis } from './token-fixtures.ts';

/** Signs `email` in through the standalone login form, to come back to `next`; returns the POST's response. */
async function signIn(b: Browser, email: string, next = '/admin'): Promise<Response> {
  const html = await (await b.get(`/login?next=${encodeURIComponent(next)}`)).text();
  return b.post('/login', { _csrf: hidden(html, '_csrf'), next: hidden(html, 'next'), email, password: PASSWORD });
}

async function signedIn(s: TestAuthServer, email: string): Promise<Browser> {
  const b = new Browser(s.url);
  const res = await signIn(b, email);
  expect(res.status).toBe(303);
  return b;
}

/** The user's entry on the users page: from its email to the end of its list item. */
function entryOf(html: string, email: string): string {
  const start = html.indexOf(`<strong>${email}</strong>`);
  if (start < 0) throw new Error(`${email} not listed`);
  return html.slice(start, html.indexOf('</li>', start));
}

const rows = (html: string) => html.match(/<dl class="facts">/g)?.length ?? 0;
const sessionCount = async (s: TestAuthServer, userId: string) => (await s.sql('select id_hash from sessions where user_id = ?', userId)).length;

describe('admin console', () => {
  let s: TestAuthServer;
  let admin: UserRecord;
  let developer: UserRecord;

  beforeAll(async () => {
    s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    admin = await seedUser(s, 'admin');
    developer = await seedUser(s, 'developer');
  });
  afterAll(async () => { await s.close(); });

  it('[ADMIN-1] signed out, every admin page redirects to the login page, which comes back to it after signing in', async () => {
    const b = new Browser(s.url);
    for (const [path, location] of [['/admin', 'login?next=%2Fadmin'], ['/admin/users', '../login?next=%2Fadmin%2Fusers']] as const) {
      const res = await b.get(path);
      expect(res.status, path).toBe(303);
      expect(res.headers.get('location'), path).toBe(location);
    }
    const post = await b.post('/admin/users', { user: developer.email, action: 'disable' });
    expect(post.status).toBe(303);
    const res = await signIn(b, admin.email, '/admin/users');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('admin/users');
  });

  it('[ADMIN-1] [ADMIN-4] an admin gets the overview: the admin layout with its navigation, the pages\' CSP, never framed, no-store', async () => {
    const b = await signedIn(s, admin.email);
    const res = await b.get('/admin');
    expect(res.status).toBe(200);
    const csp = res.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('script-src');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('<main class="wide">');
    expect(html).toContain('<nav class="admin-nav" aria-label="Admin console">');
    expect(html).toContain('<a href="admin" aria-current="page">Overview</a>');
    expect(html).toContain('<a href="admin/users">Users</a>');
    expect(html).toContain('<h1>Admin console</h1>');
    // This stack file does not require a second factor of admins: the overview says so.
    expect(html).toContain('mfa.required_roles');
    expect(html).toContain('name="_csrf"');
  });

  it('[ADMIN-2] a signed-in developer gets a 403 page on every admin page, and the refusal is audited', async () => {
    const b = await signedIn(s, developer.email);
    for (const path of ['/admin', '/admin/users']) {
      const res = await b.get(path);
      expect(res.status, path).toBe(403);
      expect(res.headers.get('content-type')).toContain('text/html');
      expect(await res.text()).toContain('only for administrators');
    }
    const users = await (await new Browser(s.url).get('/admin/users')).text();
    expect(users).not.toContain(admin.email);
    const refused = s.auditEvents().filter((e) => e.event === 'admin.refused' && e.user === developer.id);
    expect(refused.map((e) => e.path)).toEqual(['/admin', '/admin/users']);
    expect(refused.every((e) => e.decision === 'deny' && e.role === 'developer')).toBe(true);
    // Nor can a developer use the form.
    const html = await (await b.get('/account')).text();
    const post = await b.post('/admin/users', { _csrf: hidden(html, '_csrf'), user: admin.email, action: 'disable' });
    expect(post.status).toBe(403);
    expect((await s.app.ctx.store.users.findById(admin.id))?.disabledAt).toBeNull();
  });

  it('[ADMIN-5] the users page lists each user with role, status, second factor and creation', async () => {
    const b = await signedIn(s, admin.email);
    const html = await (await b.get('/admin/users')).text();
    const dev = entryOf(html, developer.email);
    expect(dev).toContain('<dd>developer</dd>');
    expect(dev).toContain('<dt>Status</dt><dd>enabled</dd>');
    expect(dev).toContain('<dt>Second factor</dt><dd>no</dd>');
    expect(dev).toMatch(/<dt>Created<\/dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/dd>/);
    expect(dev).toContain('value="disable"');
    // The admin's own entry has no form: disabling oneself would lock the console.
    expect(entryOf(html, admin.email)).not.toContain('<form');
    expect(html).toContain('<a href="../admin/users" aria-current="page">Users</a>');
  });

  it('[ADMIN-7] the disable form is refused without its CSRF token or with a wrong one, and changes nothing', async () => {
    const victim = await seedUser(s, 'developer');
    const b = await signedIn(s, admin.email);
    const html = await (await b.get('/admin/users')).text();
    const token = hidden(html, '_csrf');
    for (const form of [{}, { _csrf: 'wrong' }, { _csrf: `${token.slice(0, -2)}xx` }] as Record<string, string>[]) {
      const res = await b.post('/admin/users', { ...form, user: victim.email, action: 'disable' });
      expect(res.status).toBe(403);
      expect(await res.text()).toContain('This form could not be accepted');
    }
    expect((await s.app.ctx.store.users.findById(victim.id))?.disabledAt).toBeNull();
    expect(s.auditEvents().some((e) => e.event === 'admin.user_disabled' && e.user === victim.id)).toBe(false);
  });

  it('[ADMIN-6] disabling a user signs them out everywhere and revokes their tokens, audited; enabling lets them sign in again', async () => {
    const victim = await seedUser(s, 'developer');
    const theirs = await signedIn(s, victim.email);
    expect((await theirs.get('/account')).status).toBe(200);
    const client = await addClient(s);
    const tokens = await login(s, client, victim);
    const b = await signedIn(s, admin.email);
    const html = await (await b.get('/admin/users')).text();
    const res = await b.post('/admin/users', { _csrf: hidden(html, '_csrf'), user: victim.email, action: 'disable' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('../admin/users?done=disabled');
    expect((await s.app.ctx.store.users.findById(victim.id))?.disabledAt).not.toBeNull();
    expect(await sessionCount(s, victim.id)).toBe(0);
    expect((await theirs.get('/account')).status).toBe(303);
    expect(await revokedJtis(s)).toContain(jtiOf(tokens.access_token));
    const line = s.auditEvents().find((e) => e.event === 'admin.user_disabled' && e.user === victim.id);
    expect(line).toMatchObject({ by: admin.id, email: victim.email, decision: 'allow', revoked_sessions: '1' });

    const after = await (await b.get('/admin/users?done=disabled')).text();
    expect(after).toContain('The user was disabled');
    expect(entryOf(after, victim.email)).toContain('<dt>Status</dt><dd>disabled</dd>');
    expect((await signIn(new Browser(s.url), victim.email)).status).not.toBe(303);

    const enable = await b.post('/admin/users', { _csrf: hidden(after, '_csrf'), user: victim.email, action: 'enable' });
    expect(enable.status).toBe(303);
    expect((await s.app.ctx.store.users.findById(victim.id))?.disabledAt).toBeNull();
    expect(s.auditEvents().some((e) => e.event === 'admin.user_enabled' && e.user === victim.id && e.by === admin.id)).toBe(true);
    expect((await signIn(new Browser(s.url), victim.email)).status).toBe(303);
  });

  it('[ADMIN-6] an admin cannot disable themself, and an unknown user or action is refused', async () => {
    const b = await signedIn(s, admin.email);
    const csrf = hidden(await (await b.get('/admin/users')).text(), '_csrf');
    const self = await b.post('/admin/users', { _csrf: csrf, user: admin.email.toUpperCase(), action: 'disable' });
    expect(self.status).toBe(400);
    expect((await s.app.ctx.store.users.findById(admin.id))?.disabledAt).toBeNull();
    expect((await b.post('/admin/users', { _csrf: csrf, user: 'nobody@example.com', action: 'disable' })).status).toBe(404);
    expect((await b.post('/admin/users', { _csrf: csrf, user: developer.email, action: 'delete' })).status).toBe(400);
    expect((await b.post('/admin/users', { _csrf: csrf, user: 'x'.repeat(400), action: 'disable' })).status).toBe(400);
  });

  it('[ADMIN-5] users come in pages of 50; page numbers out of range are page 1 or an empty page', async () => {
    const b = await signedIn(s, admin.email);
    const before = await s.app.ctx.store.users.count();
    // 50 a page: with enough users for a second page, it exists and holds the rest.
    for (let i = 0; i < 51; i += 1) await seedUser(s, 'developer', `bulk-${String(i).padStart(2, '0')}@example.com`);
    const first = await (await b.get('/admin/users')).text();
    expect(rows(first)).toBe(50);
    expect(first).toContain('href="../admin/users?page=2" rel="next"');
    const second = await (await b.get('/admin/users?page=2')).text();
    expect(rows(second)).toBe(before + 51 - 50);
    expect(second).toContain('href="../admin/users?page=1" rel="prev"');
    expect(second).not.toContain('rel="next"');
    // Nonsense page numbers are page 1; huge ones an empty page, never an unbounded read.
    for (const page of ['0', '-1', 'x', '1e9']) expect(rows(await (await b.get(`/admin/users?page=${page}`)).text()), page).toBe(50);
    expect(await (await b.get('/admin/users?page=99999')).text()).toContain('No users on this page.');
  });
});

describe('admin console when the stack file requires a second factor of admins', () => {
  let dir: string;
  let s: TestAuthServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'auth-admin-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(file, `${readFileSync(new URL('../../../stack.yaml', import.meta.url), 'utf8')}\nmfa:\n  required_roles: [admin]\n`);
    s = await startAuthServer({ STACK_FILE: file });
  });
  afterAll(async () => {
    await s?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[ADMIN-3] an admin whose session was opened without a second factor is sent to sign in again, and on to the second step', async () => {
    const admin = await seedUser(s, 'admin');
    const b = new Browser(s.url);
    b.cookies.set('sid', (await createSession(s.app.ctx, admin.id)).id);
    const res = await b.get('/admin');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('login?next=%2Fadmin');
    const login = await signIn(b, admin.email);
    expect(login.status).toBe(303);
    expect(login.headers.get('location')).toMatch(/^login\/(enroll|mfa)/);
    expect((await b.get('/admin')).status).toBe(303);
  });

  it('[ADMIN-3] an admin whose session passed a second factor is let in, and the overview does not warn', async () => {
    const admin = await seedUser(s, 'admin');
    const b = new Browser(s.url);
    b.cookies.set('sid', (await createSession(s.app.ctx, admin.id, 'totp')).id);
    const res = await b.get('/admin');
    expect(res.status).toBe(200);
    expect(await res.text()).not.toContain('mfa.required_roles');
  });
});
