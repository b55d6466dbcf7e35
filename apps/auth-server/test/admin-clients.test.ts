import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_USE_GRANULARITY_MS, createClientUse } from '../src/services/client-use.ts';
import type { UserRecord } from '../src/services/users.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, authorizeUrl, seedClient, seedUser, validParams } from './authorize-flow.ts';
import { adminPage, badCsrfForms, entryOf, signedInBrowser } from './admin-fixtures.ts';
import { addClient, jtiOf, login, revokedJtis } from './token-fixtures.ts';

const REDIRECT = 'http://127.0.0.1:33418/callback';

async function register(s: TestAuthServer, name: string): Promise<string> {
  const res = await fetch(`${s.url}/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: name, redirect_uris: [REDIRECT], application_type: 'native', token_endpoint_auth_method: 'none' }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

const authorizeStatus = async (s: TestAuthServer, id: string) => (await fetch(authorizeUrl(s, validParams(id, REDIRECT)), { redirect: 'manual' })).status;
const rows = (html: string) => html.match(/<dl class="facts">/g)?.length ?? 0;

describe('admin console: clients', () => {
  let s: TestAuthServer;
  let admin: UserRecord;
  let developer: UserRecord;

  beforeAll(async () => {
    s = await startAuthServer({ REGISTRATION_MODE: 'approval', REGISTRATION_RATE_LIMIT_PER_HOUR: '1000', LOGIN_MAX_FAILURES_PER_ADDRESS: '1000' });
    admin = await seedUser(s, 'admin');
    developer = await seedUser(s, 'developer');
  });
  afterAll(async () => { await s.close(); });

  it('[ADMIN-CLIENTS-1] lists every kind of client with type, name, redirect hosts, grant types, status, first seen and last used', async () => {
    const pending = await register(s, 'Listed Pending CLI');
    await seedClient(s, { id: 'https://tool.example/client.json', source: 'cimd', name: 'Listed CIMD Tool', redirectUris: ['https://tool.example/cb', 'https://tool.example/cb2'] });
    const used = await addClient(s);
    await s.app.ctx.store.clients.approve(used.id);
    await login(s, used, developer);
    const b = await signedInBrowser(s, admin.email);
    const { status, html } = await adminPage(b, '/admin/clients');
    expect(status).toBe(200);
    expect(html).toContain('<a href="../admin/clients" aria-current="page">Clients</a>');
    const dcr = entryOf(html, 'Listed Pending CLI');
    expect(dcr).toContain('<span class="tag">pending approval</span>');
    expect(dcr).toContain(pending);
    expect(dcr).toContain('<dt>Type</dt><dd>dynamic (registered itself)</dd>');
    expect(dcr).toContain('<dt>Redirect hosts</dt><dd>127.0.0.1:33418</dd>');
    expect(dcr).toContain('<dt>Grant types</dt><dd>authorization_code</dd>');
    expect(dcr).toMatch(/<dt>First seen<\/dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/dd>/);
    expect(dcr).toContain('<dt>Last used</dt><dd>never</dd>');
    expect(dcr).toContain('aria-label="Approve Listed Pending CLI"');
    const cimd = entryOf(html, 'Listed CIMD Tool');
    expect(cimd).toContain('<dt>Type</dt><dd>metadata document</dd>');
    expect(cimd).toContain('<dt>Redirect hosts</dt><dd>tool.example</dd>');
    expect(cimd).toContain('<span class="tag">active</span>');
    expect(cimd).not.toContain('value="approve"');
    const admins = entryOf(html, 'test none');
    expect(admins).toContain('<dt>Type</dt><dd>admin-created</dd>');
    expect(admins).toContain('<dt>Grant types</dt><dd>authorization_code, refresh_token</dd>');
    expect(admins).toMatch(/<dt>Last used<\/dt><dd>\d{4}-\d\d-\d\d \d\d:\d\d UTC<\/dd>/);
    // Never a secret: the page shows no hash.
    expect(html).not.toMatch(/secret|hash/i);
  });

  it('[ADMIN-CLIENTS-2] filters by status and comes in pages of 50, the filter kept across pages', async () => {
    const b = await signedInBrowser(s, admin.email);
    await register(s, 'Filter Pending');
    const onlyPending = (await adminPage(b, '/admin/clients?status=pending')).html;
    expect(onlyPending).toContain('<a href="../admin/clients?status=pending" aria-current="page">pending approval</a>');
    expect(onlyPending).toContain('<strong>Filter Pending</strong>');
    expect(onlyPending).not.toContain('<span class="tag">active</span>');
    expect((await adminPage(b, '/admin/clients?status=active')).html).not.toContain('<span class="tag">pending approval</span>');
    for (let i = 0; i < 51; i += 1) await register(s, `Bulk ${i}`);
    const first = (await adminPage(b, '/admin/clients?status=pending')).html;
    expect(rows(first)).toBe(50);
    expect(first).toContain('href="../admin/clients?status=pending&amp;page=2" rel="next"');
    const second = (await adminPage(b, '/admin/clients?status=pending&page=2')).html;
    expect(rows(second)).toBeGreaterThan(0);
    expect(second).not.toContain('<span class="tag">active</span>');
    // An unknown filter is every client.
    expect((await adminPage(b, '/admin/clients?status=nonsense')).html).toContain('<a href="../admin/clients" aria-current="page">all</a>');
  });

  it('[ADMIN-CLIENTS-3] Approve lets a pending client start /authorize; audited admin.client_approved with the acting admin', async () => {
    const id = await register(s, 'Approve Me');
    expect(await authorizeStatus(s, id)).toBe(403);
    const b = await signedInBrowser(s, admin.email);
    const { csrf } = await adminPage(b, '/admin/clients?status=pending');
    const res = await b.post('/admin/clients', { _csrf: csrf, client: id, action: 'approve' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('../admin/clients?done=approved');
    expect((await s.app.ctx.store.clients.find(id))?.pendingApproval).toBe(false);
    expect(await authorizeStatus(s, id)).toBe(303);
    expect(s.auditEvents().find((e) => e.event === 'admin.client_approved' && e.client === id)).toMatchObject({ client_name: 'Approve Me', by: admin.id, decision: 'allow' });
    const after = (await adminPage(b, '/admin/clients?status=active&done=approved')).html;
    expect(after).toContain('The client was approved');
    expect(entryOf(after, 'Approve Me')).toContain('<span class="tag">active</span>');
    // Approving it again changes nothing and writes no second line.
    expect((await b.post('/admin/clients', { _csrf: csrf, client: id, action: 'approve' })).status).toBe(303);
    expect(s.auditEvents().filter((e) => e.event === 'admin.client_approved' && e.client === id)).toHaveLength(1);
  });

  it('[ADMIN-CLIENTS-4] Revoke ends a client for good: its tokens are revoked, it cannot start /authorize nor be approved; audited admin.client_revoked with the acting admin', async () => {
    const client = await addClient(s);
    await s.app.ctx.store.clients.approve(client.id);
    const tokens = await login(s, client, developer);
    const b = await signedInBrowser(s, admin.email);
    const { csrf } = await adminPage(b, '/admin/clients');
    const res = await b.post('/admin/clients', { _csrf: csrf, client: client.id, action: 'revoke' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('../admin/clients?done=revoked');
    expect((await s.app.ctx.store.clients.find(client.id))?.revokedAt).not.toBeNull();
    expect(await revokedJtis(s)).toContain(jtiOf(tokens.access_token));
    expect(await authorizeStatus(s, client.id)).not.toBe(303);
    expect(s.auditEvents().find((e) => e.event === 'admin.client_revoked' && e.client === client.id)).toMatchObject({ by: admin.id, decision: 'allow', revoked_refresh: '1' });
    const after = (await adminPage(b, '/admin/clients?status=revoked')).html;
    expect(after).toContain(client.id);
    expect(after).toMatch(/<dt>Revoked<\/dt><dd>\d{4}-/);
    const pending = await register(s, 'Revoked While Pending');
    expect((await b.post('/admin/clients', { _csrf: csrf, client: pending, action: 'revoke' })).status).toBe(303);
    const approve = await b.post('/admin/clients', { _csrf: csrf, client: pending, action: 'approve' });
    expect(approve.status).toBe(409);
    expect(await approve.text()).toContain('revoked');
    expect((await b.post('/admin/clients', { _csrf: csrf, client: 'no-such-client', action: 'revoke' })).status).toBe(404);
    expect((await b.post('/admin/clients', { _csrf: csrf, client: client.id, action: 'delete' })).status).toBe(400);
    expect((await b.post('/admin/clients', { _csrf: csrf, client: 'x'.repeat(3000), action: 'revoke' })).status).toBe(400);
  });

  it('[ADMIN-CLIENTS-5] a developer is refused the page and the form; a form without its CSRF token changes nothing', async () => {
    const id = await register(s, 'Guarded');
    const dev = await signedInBrowser(s, developer.email);
    expect((await dev.get('/admin/clients')).status).toBe(403);
    const devCsrf = (await adminPage(dev, '/account')).csrf;
    expect((await dev.post('/admin/clients', { _csrf: devCsrf, client: id, action: 'approve' })).status).toBe(403);
    expect(s.auditEvents().some((e) => e.event === 'admin.refused' && e.user === developer.id && e.path === '/admin/clients')).toBe(true);
    const b = await signedInBrowser(s, admin.email);
    const { csrf } = await adminPage(b, '/admin/clients');
    for (const form of badCsrfForms(csrf)) {
      const res = await b.post('/admin/clients', { ...form, client: id, action: 'approve' });
      expect(res.status).toBe(403);
    }
    expect((await s.app.ctx.store.clients.find(id))?.pendingApproval).toBe(true);
    expect(await authorizeStatus(s, id)).toBe(403);
    expect((await new Browser(s.url).get('/admin/clients')).status).toBe(303);
  });

  it('[ADMIN-CLIENTS-6] last used is recorded when a token is issued, at most once a minute per client, never waited for by the response', async () => {
    const client = await addClient(s);
    await s.app.ctx.store.clients.approve(client.id);
    await login(s, client, developer);
    await s.app.ctx.clientUse.close();
    const [row] = await s.sql<{ last_used_at: number | string }>('select last_used_at from clients where id = ?', client.id);
    expect(Number(row!.last_used_at)).toBeGreaterThan(0);
    // The store keeps a time recorded within the minute (another instance wrote it).
    const recorded = Number(row!.last_used_at);
    await s.app.ctx.store.clients.markUsed(client.id, recorded + 1_000, CLIENT_USE_GRANULARITY_MS);
    expect(Number((await s.sql<{ last_used_at: number }>('select last_used_at from clients where id = ?', client.id))[0]!.last_used_at)).toBe(recorded);
    await s.app.ctx.store.clients.markUsed(client.id, recorded + CLIENT_USE_GRANULARITY_MS + 1, CLIENT_USE_GRANULARITY_MS);
    expect(Number((await s.sql<{ last_used_at: number }>('select last_used_at from clients where id = ?', client.id))[0]!.last_used_at)).toBe(recorded + CLIENT_USE_GRANULARITY_MS + 1);

    // One instance writes a client at most once a minute, and returns before the write completes.
    let t = 1_000_000;
    const writes: string[] = [];
    let finish = () => {};
    const use = createClientUse({ markUsed: async (id) => { writes.push(id); await new Promise<void>((ok) => { finish = ok; }); } }, () => t, () => {});
    use.record('a');
    use.record('a');
    t += CLIENT_USE_GRANULARITY_MS - 1;
    use.record('a');
    use.record('b');
    expect(writes).toEqual(['a', 'b']);
    t += 1;
    use.record('a');
    expect(writes).toEqual(['a', 'b', 'a']);
    finish();
  });
});
