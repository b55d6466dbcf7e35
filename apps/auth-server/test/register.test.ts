import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findClient } from '../src/services/clients.ts';
import { verifyClientSecret } from '../src/services/client-secrets.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';

const NATIVE = { client_name: 'Test CLI', redirect_uris: ['http://127.0.0.1:33418/callback'], application_type: 'native', token_endpoint_auth_method: 'none' };

function register(s: TestAuthServer, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): Promise<Response> {
  return fetch(`${s.url}/register`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

async function clientRow(s: TestAuthServer, id: string): Promise<Record<string, unknown> | undefined> {
  return (await s.sql('select * from clients where id = ?', id))[0];
}

describe('dynamic client registration (RFC 7591)', () => {
  let s: TestAuthServer;
  beforeAll(async () => { s = await startAuthServer({ REGISTRATION_RATE_LIMIT_PER_HOUR: '1000' }); });
  afterAll(async () => { await s.close(); });

  it('[MCP-DCR] [RFC7591-REGISTER] registers a public native client: 201 with client_id, client_id_issued_at and the validated metadata, no secret', async () => {
    const res = await register(s, NATIVE);
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = await res.json();
    expect(body).toEqual({
      client_id: expect.stringMatching(/^[A-Za-z0-9_-]{20,}$/),
      client_id_issued_at: expect.any(Number),
      client_name: 'Test CLI',
      redirect_uris: ['http://127.0.0.1:33418/callback'],
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code'],
      response_types: ['code'],
      application_type: 'native',
      scope: 'db:admin db:read db:write',
    });
    expect(Math.abs(body.client_id_issued_at - Date.now() / 1000)).toBeLessThan(60);
    const row = (await clientRow(s, body.client_id))!;
    expect(row).toMatchObject({ source: 'dcr', secret_hash: null, client_name: 'Test CLI', token_endpoint_auth_method: 'none', application_type: 'native' });
    const found = await findClient(s.app.ctx, body.client_id);
    expect(found?.redirectUris).toEqual(['http://127.0.0.1:33418/callback']);
    const event = s.auditEvents().find((e) => e.event === 'client.registered' && e.client === body.client_id);
    expect(event).toMatchObject({ client_name: 'Test CLI', address: '127.0.0.1', decision: 'allow' });
  });

  it('[RFC7591-REGISTER] a confidential client (default client_secret_basic) gets its secret once; the database holds only a salted HMAC of it', async () => {
    const res = await register(s, { client_name: 'Web app', redirect_uris: ['https://app.example.com/cb'], grant_types: ['authorization_code', 'refresh_token'] });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body).toMatchObject({ token_endpoint_auth_method: 'client_secret_basic', application_type: 'web', client_secret_expires_at: 0, grant_types: ['authorization_code', 'refresh_token'] });
    expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const row = (await clientRow(s, body.client_id))!;
    expect(String(row.secret_hash)).toMatch(/^hmac-sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(await verifyClientSecret(s.app.ctx.argon2, String(row.secret_hash), body.client_secret)).toEqual({ ok: true, rehash: undefined });
    // The secret is nowhere in plain text: not in the row's metadata, not in the audit log.
    expect(JSON.stringify(row)).not.toContain(body.client_secret);
    expect(readFileSync(join(s.dataDir, 'audit.log'), 'utf8')).not.toContain(body.client_secret);
    const record = await findClient(s.app.ctx, body.client_id);
    expect(record?.metadata).not.toHaveProperty('client_secret');
  });

  it('[RFC7591-REGISTER] client_secret_post is accepted and also gets a secret', async () => {
    const body = await (await register(s, { ...NATIVE, token_endpoint_auth_method: 'client_secret_post' })).json();
    expect(body.token_endpoint_auth_method).toBe('client_secret_post');
    expect(typeof body.client_secret).toBe('string');
  });

  it('[RFC7591-REGISTER] ignores unknown members and does not store them, nor a client-chosen id or secret', async () => {
    const res = await register(s, { ...NATIVE, client_id: 'chosen', client_secret: 'mine', software_statement: 'x.y.z', extra: { deep: true }, logo_uri: 'https://example.com/logo.png' });
    expect(res.status).toBe(201);
    const body = await res.json();
    expect(body.client_id).not.toBe('chosen');
    expect(body).not.toHaveProperty('extra');
    expect(body).not.toHaveProperty('software_statement');
    expect(body).not.toHaveProperty('client_secret');
    expect(body.logo_uri).toBe('https://example.com/logo.png');
    const metadata = (await clientRow(s, body.client_id))!.metadata;
    // SQLite returns the JSON text, PostgreSQL the parsed jsonb.
    const stored = typeof metadata === 'string' ? JSON.parse(metadata) : metadata;
    expect(stored).not.toHaveProperty('extra');
    expect(stored).not.toHaveProperty('client_id');
    expect(stored).not.toHaveProperty('client_secret');
    expect(stored).not.toHaveProperty('software_statement');
  });

  it('[RFC7591-REGISTER] grants the requested scopes that exist, defaulting to every supported scope', async () => {
    const body = await (await register(s, { ...NATIVE, scope: 'db:write db:read' })).json();
    expect(body.scope).toBe('db:read db:write');
    expect((await clientRow(s, body.client_id))!.scope).toBe('db:read db:write');
  });

  const invalid: [string, Record<string, unknown>, string, RegExp][] = [
    ['client_name longer than 100 characters', { client_name: 'x'.repeat(101) }, 'invalid_client_metadata', /'client_name' must have at most 100 characters/],
    ['client_name that is not a string', { client_name: 42 }, 'invalid_client_metadata', /'client_name' must be a string/],
    ['client_name with control characters', { client_name: 'Good\u202eevil' }, 'invalid_client_metadata', /'client_name' must not contain control characters/],
    ['missing redirect_uris', { redirect_uris: undefined }, 'invalid_redirect_uri', /missing required parameter 'redirect_uris'/],
    ['redirect_uris that is not an array', { redirect_uris: 'http://127.0.0.1/cb' }, 'invalid_redirect_uri', /'redirect_uris' must be a non-empty array/],
    ['more than 10 redirect_uris', { redirect_uris: Array.from({ length: 11 }, (_, i) => `http://127.0.0.1/cb${i}`) }, 'invalid_redirect_uri', /'redirect_uris' must have at most 10/],
    ['a redirect URI with a fragment', { redirect_uris: ['http://127.0.0.1/cb#x'] }, 'invalid_redirect_uri', /'redirect_uris' must not contain a fragment/],
    ['a relative redirect URI', { redirect_uris: ['/cb'] }, 'invalid_redirect_uri', /'redirect_uris' entry is not an absolute URI/],
    ['an unsupported token_endpoint_auth_method', { token_endpoint_auth_method: 'private_key_jwt' }, 'invalid_client_metadata', /'token_endpoint_auth_method'/],
    ['an unsupported grant type', { grant_types: ['authorization_code', 'client_credentials'] }, 'invalid_client_metadata', /'grant_types' value 'client_credentials'/],
    ['grant_types without authorization_code', { grant_types: ['refresh_token'] }, 'invalid_client_metadata', /'grant_types' must include authorization_code/],
    ['grant_types that is not an array', { grant_types: 'authorization_code' }, 'invalid_client_metadata', /'grant_types' must be an array/],
    ['an unsupported response type', { response_types: ['code', 'token'] }, 'invalid_client_metadata', /'response_types'/],
    ['an unknown application_type', { application_type: 'desktop' }, 'invalid_client_metadata', /'application_type' must be one of native, web/],
    ['an unknown scope', { scope: 'db:read offline_access' }, 'invalid_client_metadata', /unknown scope 'offline_access' in 'scope'/],
    ['a scope that is too long', { scope: 'a'.repeat(1001) }, 'invalid_client_metadata', /'scope' must have at most 1000 characters/],
    ['a non-https logo_uri', { logo_uri: 'http://example.com/logo.png' }, 'invalid_client_metadata', /'logo_uri' must be an https URL/],
    ['too many contacts', { contacts: ['a', 'b', 'c', 'd', 'e', 'f'] }, 'invalid_client_metadata', /'contacts' must have at most 5 entries/],
  ];
  for (const [what, change, error, description] of invalid) {
    it(`[RFC7591-REGISTER] refuses ${what} with ${error} naming the parameter`, async () => {
      const res = await register(s, { ...NATIVE, ...change });
      expect(res.status).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      const body = await res.json();
      expect(body.error).toBe(error);
      expect(body.error_description).toMatch(description);
    });
  }

  it('[MCP-AS-REDIRECT-LOCALHOST-HTTPS] accepts https and loopback http (127.0.0.1, [::1], localhost) and refuses other http redirect URIs', async () => {
    const ok = await register(s, { ...NATIVE, redirect_uris: ['https://app.example.com/cb', 'http://127.0.0.1/cb', 'http://[::1]:8080/cb', 'http://localhost:9999/cb'] });
    expect(ok.status).toBe(201);
    for (const uri of ['http://example.com/cb', 'http://192.168.1.10/cb', 'ftp://127.0.0.1/cb', 'javascript:alert(1)']) {
      const res = await register(s, { ...NATIVE, redirect_uris: [uri] });
      expect(res.status, uri).toBe(400);
      expect((await res.json()).error).toBe('invalid_redirect_uri');
    }
  });

  it('[MCP-DCR-APPLICATION-TYPE] web clients must use https redirect URIs; loopback ones need application_type native', async () => {
    const res = await register(s, { ...NATIVE, application_type: 'web' });
    expect(res.status).toBe(400);
    const body = await res.json();
    expect(body.error).toBe('invalid_client_metadata');
    expect(body.error_description).toMatch(/'application_type' native/);
    // Pre-SEP-837 clients omit application_type: loopback-only redirect URIs can only mean native.
    const legacy = await register(s, { ...NATIVE, application_type: undefined });
    expect(legacy.status).toBe(201);
    expect((await legacy.json()).application_type).toBe('native');
    const mixed = await register(s, { ...NATIVE, application_type: undefined, redirect_uris: ['https://app.example.com/cb', 'http://localhost/cb'] });
    expect(mixed.status).toBe(400);
    const web = await register(s, { ...NATIVE, application_type: undefined, redirect_uris: ['https://app.example.com/cb'] });
    expect(web.status).toBe(201);
    expect((await web.json()).application_type).toBe('web');
    const nativeHttps = await register(s, { ...NATIVE, redirect_uris: ['https://app.example.com/cb', 'http://localhost/cb'] });
    expect(nativeHttps.status).toBe(201);
    expect((await nativeHttps.json()).application_type).toBe('native');
  });

  it('[RFC7591-REGISTER] refuses a body that is not a JSON object', async () => {
    for (const body of ['[]', 'null', '"x"']) {
      const res = await register(s, body);
      expect(res.status).toBe(400);
      expect(await res.json()).toEqual({ error: 'invalid_client_metadata', error_description: 'client metadata must be a JSON object' });
    }
    const broken = await register(s, '{"client_name":');
    expect(broken.status).toBe(400);
    expect((await broken.json()).error).toBe('invalid_request');
  });

  it('[RFC7591-REGISTER] accepts only application/json (415 otherwise) and refuses oversized bodies with 413', async () => {
    const form = await register(s, 'client_name=x', { 'content-type': 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect((await form.json()).error_description).toBe('content type must be application/json');
    const text = await register(s, JSON.stringify(NATIVE), { 'content-type': 'text/plain' });
    expect(text.status).toBe(415);
    const withCharset = await register(s, JSON.stringify(NATIVE), { 'content-type': 'application/json; charset=utf-8' });
    expect(withCharset.status).toBe(201);
    const huge = await register(s, { ...NATIVE, client_uri: `https://example.com/${'a'.repeat(40_000)}` });
    expect(huge.status).toBe(413);
    expect((await huge.json()).error).toBe('request_too_large');
  });
});

describe('registration limits and switch', () => {
  it('[MCP-DCR] rate limits registrations per address with 429 and Retry-After', async () => {
    await using s = await startAuthServer({ REGISTRATION_RATE_LIMIT_PER_HOUR: '2' });
    expect((await register(s, NATIVE)).status).toBe(201);
    // Invalid attempts count too: they cost the server work as well.
    expect((await register(s, { ...NATIVE, redirect_uris: [] })).status).toBe(400);
    const limited = await register(s, NATIVE);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(3000);
    expect((await limited.json()).error).toBe('rate_limited');
  });

  it('[MCP-DCR] is switched off by REGISTRATION_MODE=closed: /register is not found and no client is created', async () => {
    await using s = await startAuthServer({ REGISTRATION_MODE: 'closed' });
    const res = await register(s, NATIVE);
    expect(res.status).toBe(404);
    expect((await res.json()).error).toBe('not_found');
    expect(await s.sql('select count(*) as n from clients')).toEqual([{ n: 0 }]);
    const metadata = await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json();
    expect(metadata.registration_endpoint).toBeUndefined();
  });
});
