import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@stack/config';
import { configWarnings, loadAuthConfig } from '../src/config.ts';
import { approveClient, clientStatus, listClients, pendingClients } from '../src/services/client-admin.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { Browser, authorizeUrl, decide, pkce, reachConsent, seedClient, seedUser, validParams } from './authorize-flow.ts';
import { basicHeader, postForm } from './token-fixtures.ts';

const NATIVE = { client_name: 'Waiting CLI', redirect_uris: ['http://127.0.0.1:33418/callback'], application_type: 'native', token_endpoint_auth_method: 'none' };
const REDIRECT = NATIVE.redirect_uris[0]!;

function register(s: TestAuthServer, body: unknown = NATIVE): Promise<Response> {
  return fetch(`${s.url}/register`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}

async function metadata(s: TestAuthServer): Promise<Record<string, unknown>> {
  return (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json() as Promise<Record<string, unknown>>;
}

function configError(env: Record<string, string>): string {
  try {
    loadAuthConfig({ NODE_ENV: 'test', ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.message;
    throw err;
  }
  throw new Error('expected a configuration error');
}

/** The waiting page: 403 HTML, no Location, the client's name and whom to ask, no OAuth error code. */
async function expectWaitingPage(res: Response, name: string): Promise<string> {
  expect(res.status).toBe(403);
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('content-type')).toMatch(/^text\/html/);
  const html = await res.text();
  expect(html).toContain('waiting for approval');
  expect(html).toContain(`&quot;${name}&quot;`);
  expect(html).toContain('an administrator of this server must approve it');
  for (const code of ['unauthorized_client', 'invalid_client', 'access_denied', 'Detail for the developer']) expect(html).not.toContain(code);
  return html;
}

describe('REGISTRATION_MODE setting', () => {
  it('[REG-MODE-1] is open by default, takes open, approval or closed, and refuses anything else; the result is frozen', () => {
    const base = { NODE_ENV: 'test' };
    expect(loadAuthConfig(base).registration).toEqual({ mode: 'open', perHour: 20, deprecatedSetting: false });
    for (const mode of ['open', 'approval', 'closed'] as const) expect(loadAuthConfig({ ...base, REGISTRATION_MODE: mode }).registration.mode).toBe(mode);
    expect(configError({ REGISTRATION_MODE: 'manual' })).toMatch(/REGISTRATION_MODE: /);
    expect(Object.isFrozen(loadAuthConfig(base).registration)).toBe(true);
    expect(configWarnings(loadAuthConfig({ ...base, REGISTRATION_MODE: 'approval' })).join('\n')).not.toMatch(/REGISTRATION/);
  });

  it('[REG-MODE-1] still reads the deprecated REGISTRATION_ENABLED (true is open, false closed) with a warning, and refuses it together with REGISTRATION_MODE', () => {
    const legacyOn = loadAuthConfig({ NODE_ENV: 'test', REGISTRATION_ENABLED: 'true' });
    const legacyOff = loadAuthConfig({ NODE_ENV: 'test', REGISTRATION_ENABLED: 'false' });
    expect(legacyOn.registration).toMatchObject({ mode: 'open', deprecatedSetting: true });
    expect(legacyOff.registration).toMatchObject({ mode: 'closed', deprecatedSetting: true });
    expect(configWarnings(legacyOff)).toContain('REGISTRATION_ENABLED is deprecated and will be removed in the next release: set REGISTRATION_MODE=closed instead (open, approval or closed)');
    expect(configWarnings(legacyOn).join('\n')).toMatch(/set REGISTRATION_MODE=open instead/);
    // An empty value (copied from .env.example) is unset.
    expect(loadAuthConfig({ NODE_ENV: 'test', REGISTRATION_ENABLED: '', REGISTRATION_MODE: 'approval' }).registration).toMatchObject({ mode: 'approval', deprecatedSetting: false });
    for (const enabled of ['true', 'false']) {
      expect(configError({ REGISTRATION_ENABLED: enabled, REGISTRATION_MODE: 'open' }))
        .toMatch(/REGISTRATION_ENABLED: is replaced by REGISTRATION_MODE: set only REGISTRATION_MODE \(open, approval or closed\), not both/);
    }
  });
});

describe('REGISTRATION_MODE=closed', () => {
  for (const env of [{ REGISTRATION_MODE: 'closed' }, { REGISTRATION_ENABLED: 'false' }] as Record<string, string>[]) {
    it(`[REG-MODE-2] ${Object.keys(env)[0]}: /register is a 404 not_found (no registration endpoint, RFC 8414 §2), no client is created, the metadata omits registration_endpoint`, async () => {
      await using s = await startAuthServer(env);
      const res = await register(s);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
      expect(await s.sql('select count(*) as n from clients')).toEqual([{ n: 0 }]);
      expect((await metadata(s)).registration_endpoint).toBeUndefined();
    });
  }

  it('[REG-MODE-2] clients an operator adds still sign people in', async () => {
    await using s = await startAuthServer({ REGISTRATION_MODE: 'closed' });
    const client = await seedClient(s);
    const res = await fetch(authorizeUrl(s, validParams(client.id, client.redirectUris[0]!)), { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^login\?/);
  });
});

describe('REGISTRATION_MODE=open', () => {
  it('[REG-MODE-3] registers clients that can start a sign-in at once (status active)', async () => {
    await using s = await startAuthServer();
    const res = await register(s);
    expect(res.status).toBe(201);
    const { client_id: id } = await res.json() as { client_id: string };
    expect(clientStatus((await s.app.ctx.store.clients.find(id))!)).toBe('active');
    expect(s.auditEvents().find((e) => e.event === 'client.registered')).toMatchObject({ client: id, status: 'active', decision: 'allow' });
    expect((await fetch(authorizeUrl(s, validParams(id, REDIRECT)), { redirect: 'manual' })).status).toBe(303);
  });
});

describe('REGISTRATION_MODE=approval', () => {
  let s: TestAuthServer;
  let email: string;
  beforeAll(async () => {
    s = await startAuthServer({ REGISTRATION_MODE: 'approval', REGISTRATION_RATE_LIMIT_PER_HOUR: '1000' });
    email = (await seedUser(s, 'developer')).email;
  });
  afterAll(async () => { await s.close(); });

  it('[REG-MODE-3] /register answers as RFC 7591 §3.2.1 says (201, client_id, the metadata) and stores the client as pending; audited with status pending', async () => {
    expect((await metadata(s)).registration_endpoint).toBe(`${s.url}/register`);
    const res = await register(s);
    expect(res.status).toBe(201);
    const body = await res.json() as Record<string, unknown>;
    expect(body).toEqual({
      client_id: expect.any(String), client_id_issued_at: expect.any(Number), client_name: 'Waiting CLI', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'], response_types: ['code'], application_type: 'native', scope: 'db:admin db:read db:write',
    });
    const id = body.client_id as string;
    expect((await s.app.ctx.store.clients.find(id))!.pendingApproval).toBe(true);
    expect((await pendingClients(s.app.ctx.store)).map((c) => c.id)).toContain(id);
    expect(s.auditEvents().find((e) => e.event === 'client.registered' && e.client === id)).toMatchObject({ client_name: 'Waiting CLI', status: 'pending', decision: 'allow' });
    // A confidential client gets its secret once, as in open mode.
    const web = await (await register(s, { client_name: 'Web', redirect_uris: ['https://web.example/cb'], grant_types: ['authorization_code', 'refresh_token'] })).json() as Record<string, unknown>;
    expect(web.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(clientStatus((await s.app.ctx.store.clients.find(web.client_id as string))!)).toBe('pending');
  });

  it('[REG-MODE-4] a pending client\'s /authorize shows a 403 waiting-for-approval page naming it, never redirects to its redirect_uri and holds no sign-in; signed in or not', async () => {
    const { client_id: id } = await (await register(s, { ...NATIVE, client_name: 'Pending <b>App</b>' })).json() as { client_id: string };
    const url = authorizeUrl(s, validParams(id, REDIRECT));
    const html = await expectWaitingPage(await fetch(url, { redirect: 'manual' }), 'Pending &lt;b&gt;App&lt;/b&gt;');
    expect(html).toContain(id);
    expect(html).not.toContain('127.0.0.1:33418');
    expect(s.auditEvents().filter((e) => e.event === 'authorize.error' && e.client === id).at(-1)).toMatchObject({ decision: 'deny', reason: 'the client is waiting for approval' });
    expect(await s.sql('select count(*) as n from pending_authorizations')).toEqual([{ n: 0 }]);
    // A person already signed in (through an approved client) gets the same page, not the consent screen.
    const b = new Browser(s.url);
    const approved = await seedClient(s, { redirectUris: ['https://approved.example/cb'] });
    await reachConsent(b, authorizeUrl(s, validParams(approved.id, approved.redirectUris[0]!)), email);
    await expectWaitingPage(await b.get(url), 'Pending &lt;b&gt;App&lt;/b&gt;');
    // The client and redirect URI are checked first: a redirect URI it never registered gets the usual page.
    const wrong = await fetch(authorizeUrl(s, validParams(id, 'https://evil.example/cb')), { redirect: 'manual' });
    expect(wrong.status).toBe(400);
  });

  it('[REG-MODE-5] the token endpoint refuses a pending client with 400 unauthorized_client (RFC 6749 §5.2), after authenticating it; approved, the same request reaches the grant', async () => {
    const web = await (await register(s, { client_name: 'Confidential', redirect_uris: ['https://conf.example/cb'], grant_types: ['authorization_code', 'refresh_token'] })).json() as Record<string, string>;
    const auth = { authorization: basicHeader(web.client_id!, web.client_secret!) };
    const form = { grant_type: 'authorization_code', code: 'no-such-code', redirect_uri: 'https://conf.example/cb', code_verifier: pkce().verifier };
    const refused = await postForm(`${s.url}/token`, form, auth);
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ error: 'unauthorized_client', error_description: 'this client is waiting for an administrator\'s approval' });
    // A wrong secret is still invalid_client: the approval is checked only for an authenticated client.
    expect((await postForm(`${s.url}/token`, form, { authorization: basicHeader(web.client_id!, 'wrong') })).body.error).toBe('invalid_client');
    const refreshRefused = await postForm(`${s.url}/token`, { grant_type: 'refresh_token', refresh_token: 'x' }, auth);
    expect(refreshRefused.body.error).toBe('unauthorized_client');
    await approveClient(s.app.ctx.store, web.client_id!);
    expect((await postForm(`${s.url}/token`, form, auth)).body.error).toBe('invalid_grant');
  });

  it('[REG-MODE-4] [REG-MODE-7] once approved (approveClient), the same sign-in goes through: login, consent, code, tokens; admin-created clients never wait', async () => {
    const { client_id: id } = await (await register(s)).json() as { client_id: string };
    const { verifier, challenge } = pkce();
    const url = authorizeUrl(s, validParams(id, REDIRECT, { code_challenge: challenge }));
    await expectWaitingPage(await fetch(url, { redirect: 'manual' }), 'Waiting CLI');
    expect(await approveClient(s.app.ctx.store, id)).toEqual({ clientId: id, clientName: 'Waiting CLI', alreadyApproved: false });
    expect(await approveClient(s.app.ctx.store, id)).toMatchObject({ alreadyApproved: true });
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, url, email);
    const allowed = await decide(b, html, 'allow');
    const code = new URL(allowed.headers.get('location')!).searchParams.get('code')!;
    const token = await postForm(`${s.url}/token`, { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier, client_id: id });
    expect(token.status).toBe(200);
    expect(token.body.access_token).toEqual(expect.any(String));
    const admin = await seedClient(s);
    expect(clientStatus((await listClients(s.app.ctx.store)).find((c) => c.id === admin.id)!)).toBe('active');
  });
});

describe('REGISTRATION_MODE=approval with Client ID Metadata Documents', () => {
  let docs: Server;
  let docUrl: string;
  let s: TestAuthServer;
  let clock = Date.now();
  beforeAll(async () => {
    docs = createServer((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' });
      res.end(JSON.stringify({ client_id: `http://127.0.0.1:${(docs.address() as AddressInfo).port}${req.url}`, client_name: 'Doc Client', redirect_uris: [REDIRECT] }));
    });
    await new Promise<void>((r) => docs.listen(0, '127.0.0.1', r));
    docUrl = `http://127.0.0.1:${(docs.address() as AddressInfo).port}/client.json`;
    s = await startAuthServer({ REGISTRATION_MODE: 'approval', CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' }, { now: () => clock });
  });
  afterAll(async () => {
    await s.close();
    docs.closeAllConnections();
    await new Promise((r) => docs.close(r));
  });

  it('[REG-MODE-6] a document seen for the first time is stored pending: the waiting page names it and its host; approved, it signs in, and refetching the document keeps it approved', async () => {
    const url = authorizeUrl(s, validParams(docUrl, REDIRECT));
    const html = await expectWaitingPage(await fetch(url, { redirect: 'manual' }), 'Doc Client');
    expect(html).toContain(`(published by ${new URL(docUrl).host})`);
    expect(clientStatus((await s.app.ctx.store.clients.find(docUrl))!)).toBe('pending');
    // The token endpoint refuses it too.
    const token = await postForm(`${s.url}/token`, { grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT, code_verifier: pkce().verifier, client_id: docUrl });
    expect(token.body.error).toBe('unauthorized_client');
    // A refetch (the cached copy expired) leaves it waiting.
    clock += 120_000;
    await expectWaitingPage(await fetch(url, { redirect: 'manual' }), 'Doc Client');
    await approveClient(s.app.ctx.store, docUrl);
    clock += 120_000;
    expect((await fetch(url, { redirect: 'manual' })).status).toBe(303);
    expect(s.auditEvents().filter((e) => e.event === 'client.metadata_fetched' && e.client === docUrl)).toHaveLength(3);
    expect(clientStatus((await s.app.ctx.store.clients.find(docUrl))!)).toBe('active');
  });
});
