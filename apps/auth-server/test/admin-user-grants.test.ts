import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { UserRecord } from '../src/services/users.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, seedUser } from './authorize-flow.ts';
import { adminPage, badCsrfForms, signedInBrowser } from './admin-fixtures.ts';
import { addClient, jtiOf, login, RESOURCE, revokedJtis, type TestClient } from './token-fixtures.ts';

/** A person who allowed `client` db:read db:write on RESOURCE, holds its tokens and is signed in in a browser. */
async function personWithGrant(s: TestAuthServer, client: TestClient): Promise<{ user: UserRecord; tokens: Record<string, unknown> }> {
  const user = await seedUser(s, 'developer');
  await s.app.ctx.store.consents.grant({ userId: user.id, clientId: client.id, resource: RESOURCE }, ['db:read', 'db:write'], s.app.ctx.now());
  const tokens = await login(s, client, user);
  await signedInBrowser(s, user.email);
  return { user, tokens };
}

/** The part of the page under the heading `title`, up to the next h2. */
function sectionOf(html: string, title: string): string {
  const start = html.indexOf(`<h2>${title}</h2>`);
  if (start < 0) throw new Error(`no section ${title}`);
  const end = html.indexOf('<h2>', start + 1);
  return html.slice(start, end < 0 ? undefined : end);
}

describe('admin console: a person\'s grants', () => {
  let s: TestAuthServer;
  let admin: UserRecord;
  let client: TestClient;

  beforeAll(async () => {
    s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    admin = await seedUser(s, 'admin');
    client = await addClient(s);
  });
  afterAll(async () => { await s.close(); });

  it('[ADMIN-GRANTS-1] the users page links each user to their page, which shows their grants (client, scopes, resource, granted), sessions and refresh-token families', async () => {
    const { user } = await personWithGrant(s, client);
    const b = await signedInBrowser(s, admin.email);
    const users = (await adminPage(b, '/admin/users')).html;
    expect(users).toContain(`<a href="../admin/users/${user.id}" aria-label="Grants and sessions of ${user.email}">Grants and sessions</a>`);
    const { status, html } = await adminPage(b, `/admin/users/${user.id}`);
    expect(status).toBe(200);
    expect(html).toContain(`<h1>Grants of ${user.email}</h1>`);
    expect(html).toContain('<a href="../../admin/users" aria-current="page">Users</a>');
    const apps = sectionOf(html, 'Applications allowed');
    expect(apps).toContain('<strong>test none</strong>');
    expect(apps).toContain(client.id);
    expect(apps).toContain('<dt>Scopes</dt><dd>db:read db:write</dd>');
    expect(apps).toContain(`<dt>Resources</dt><dd>${RESOURCE}</dd>`);
    expect(apps).toMatch(/<dt>Granted<\/dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/dd>/);
    expect(apps).toContain('aria-label="Revoke the grant to test none"');
    expect(sectionOf(html, 'Sessions').match(/Signed in \d{4}-/g)).toHaveLength(1);
    const families = sectionOf(html, 'Refresh tokens');
    expect(families).toContain('<strong>test none</strong>');
    expect(families).toContain(`<dt>Resource</dt><dd>${RESOURCE}</dd>`);
    expect(families).toMatch(/<dt>Expires<\/dt><dd>\d{4}-/);
    // Never a token, its hash or a session id.
    const [row] = await s.sql<{ token_hash: string; family_id: string }>('select token_hash, family_id from refresh_tokens where user_id = ?', user.id);
    const [session] = await s.sql<{ id_hash: string }>('select id_hash from sessions where user_id = ?', user.id);
    for (const secret of [row!.token_hash, row!.family_id, session!.id_hash]) expect(html).not.toContain(secret);
  });

  it('[ADMIN-GRANTS-2] Revoke takes back one person\'s grant to one client and its tokens, audited grant.revoked with the acting admin; another person\'s grant to the client stays', async () => {
    const { user, tokens } = await personWithGrant(s, client);
    const other = await personWithGrant(s, client);
    const b = await signedInBrowser(s, admin.email);
    const { csrf } = await adminPage(b, `/admin/users/${user.id}`);
    const res = await b.post(`/admin/users/${user.id}`, { _csrf: csrf, client: client.id, action: 'revoke' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`../../admin/users/${user.id}?done=revoked`);
    expect(await s.app.ctx.store.consents.listForUser(user.id)).toEqual([]);
    expect(await revokedJtis(s)).toContain(jtiOf(tokens.access_token));
    expect(await revokedJtis(s)).not.toContain(jtiOf(other.tokens.access_token));
    expect(await s.app.ctx.store.consents.listForUser(other.user.id)).toHaveLength(1);
    expect(s.auditEvents().find((e) => e.event === 'grant.revoked' && e.user === user.id)).toMatchObject({ client: client.id, by: admin.id, decision: 'allow', revoked_consents: '1', revoked_refresh: '1' });
    const after = (await adminPage(b, `/admin/users/${user.id}?done=revoked`)).html;
    expect(after).toContain('The grant was revoked');
    expect(after).toContain('This person has not allowed any application.');
    expect(after).toContain('No refresh token in use.');
  });

  it('[ADMIN-GRANTS-3] refused to a developer and without the CSRF token; an unknown or malformed user id is a 404', async () => {
    const { user } = await personWithGrant(s, client);
    const dev = await seedUser(s, 'developer');
    const devBrowser = await signedInBrowser(s, dev.email);
    expect((await devBrowser.get(`/admin/users/${user.id}`)).status).toBe(403);
    const devCsrf = (await adminPage(devBrowser, '/account')).csrf;
    expect((await devBrowser.post(`/admin/users/${user.id}`, { _csrf: devCsrf, client: client.id, action: 'revoke' })).status).toBe(403);
    const b = await signedInBrowser(s, admin.email);
    const { csrf } = await adminPage(b, `/admin/users/${user.id}`);
    for (const form of badCsrfForms(csrf)) expect((await b.post(`/admin/users/${user.id}`, { ...form, client: client.id, action: 'revoke' })).status).toBe(403);
    expect(await s.app.ctx.store.consents.listForUser(user.id)).toHaveLength(1);
    expect((await b.get('/admin/users/00000000-0000-4000-8000-000000000000')).status).toBe(404);
    expect((await b.get(`/admin/users/${'x'.repeat(100)}`)).status).toBe(404);
    expect((await b.post(`/admin/users/${user.id}`, { _csrf: csrf, client: client.id, action: 'delete' })).status).toBe(400);
    expect((await new Browser(s.url).get(`/admin/users/${user.id}`)).status).toBe(303);
  });
});
