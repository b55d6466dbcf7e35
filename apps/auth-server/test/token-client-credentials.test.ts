import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SignJWT, decodeJwt, decodeProtectedHeader, exportJWK, generateKeyPair, type JWK } from 'jose';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { RESOURCE, addClient, basicHeader, postForm, type FormResponse } from './token-fixtures.ts';
import { addMachineClient, type MachineAuthMethod } from '../src/services/client-admin.ts';

const ASSERTION_TYPE = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

interface Machine {
  id: string;
  secret?: string;
}

async function addMachine(
  s: TestAuthServer,
  o: { role?: string; scope?: string; authMethod?: MachineAuthMethod; jwks?: unknown; jwksUri?: string } = {},
): Promise<Machine> {
  const r = await addMachineClient(s.app.ctx.store, s.app.ctx.stack.current(), {
    name: 'ci job', role: o.role ?? 'developer', authMethod: o.authMethod ?? 'client_secret_basic',
    ...(o.scope ? { scope: o.scope } : {}), ...(o.jwks ? { jwks: o.jwks } : {}), ...(o.jwksUri ? { jwksUri: o.jwksUri } : {}),
  }, Date.now());
  return { id: r.clientId, ...(r.secret ? { secret: r.secret } : {}) };
}

function ccBasic(s: TestAuthServer, c: Machine, extra: Record<string, string> = {}): Promise<FormResponse> {
  return postForm(`${s.url}/token`, { grant_type: 'client_credentials', resource: RESOURCE, ...extra }, { authorization: basicHeader(c.id, c.secret!) });
}

function expectError(r: FormResponse, status: number, error: string): void {
  expect(r.status, JSON.stringify(r.body)).toBe(status);
  expect(r.body.error).toBe(error);
  expect(r.headers.get('cache-control')).toBe('no-store');
}

function expectInvalidClient(r: FormResponse): void {
  expectError(r, 401, 'invalid_client');
  expect(r.headers.get('www-authenticate')).toMatch(/^Basic /);
}

/** An ES256 key pair: the private key signs, the public JWK is what the client registers. */
async function clientKey(kid?: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), ...(kid ? { kid } : {}) } };
}

/** An assertion as the conformance mock (auth/client-credentials-jwt) and the SDK's PrivateKeyJwtProvider make it. */
async function assertion(
  privateKey: CryptoKey,
  clientId: string,
  o: { aud?: string; iat?: number; lifetime?: number; jti?: string; kid?: string } = {},
): Promise<string> {
  const iat = o.iat ?? Math.floor(Date.now() / 1000);
  return new SignJWT({ jti: o.jti ?? randomUUID() })
    .setProtectedHeader({ alg: 'ES256', typ: 'JWT', ...(o.kid ? { kid: o.kid } : {}) })
    .setIssuer(clientId).setSubject(clientId).setAudience(o.aud!)
    .setIssuedAt(iat).setExpirationTime(iat + (o.lifetime ?? 300))
    .sign(privateKey);
}

function ccJwt(s: TestAuthServer, jwt: string, extra: Record<string, string> = {}): Promise<FormResponse> {
  return postForm(`${s.url}/token`, {
    grant_type: 'client_credentials', client_assertion_type: ASSERTION_TYPE, client_assertion: jwt, resource: RESOURCE, scope: 'db:read', ...extra,
  });
}

describe('token endpoint: client_credentials (MCP client credentials extension)', () => {
  let s: TestAuthServer;
  beforeEach(async () => { s = await startAuthServer(); });
  afterEach(async () => { await s.close(); });

  it('[EXT-CC-GRANT] [RFC9068-JWT-AT] issues a token whose subject is the client, with its role and scopes, for the resource, without a refresh token, audited', async () => {
    const c = await addMachine(s, { role: 'developer' });
    const r = await ccBasic(s, c);
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'Bearer', scope: 'db:read db:write' });
    expect(r.body.refresh_token).toBeUndefined();
    expect(decodeProtectedHeader(String(r.body.access_token)).typ).toBe('at+jwt');
    const claims = decodeJwt(String(r.body.access_token));
    expect(claims).toMatchObject({ sub: c.id, client_id: c.id, role: 'developer', aud: RESOURCE, iss: s.url, scope: 'db:read db:write' });
    const ev = s.auditEvents().find((e) => e.event === 'token.issued');
    expect(ev).toMatchObject({ grant: 'client_credentials', client: c.id, role: 'developer', resource: RESOURCE, refresh: false, decision: 'allow' });
    expect(JSON.stringify(s.auditEvents())).not.toContain(c.secret);
  });

  it('[EXT-CC-GRANT] revoking the client revokes the access tokens it obtained for itself', async () => {
    const c = await addMachine(s);
    const jti = decodeJwt(String((await ccBasic(s, c)).body.access_token)).jti;
    const revoked = await s.app.ctx.store.clients.revoke(c.id, Date.now());
    expect(revoked?.accessTokens).toBe(1);
    expect(await s.app.ctx.store.tokens.isAccessTokenRevoked(String(jti))).toBe(true);
    expectInvalidClient(await ccBasic(s, c));
  });

  it('[EXT-CC-AUTH-METHODS] [OAUTH21-CLIENT-AUTH] client_secret_post works; a wrong secret or the other secret method is 401 invalid_client, and no secret is logged', async () => {
    const post = await addMachine(s, { authMethod: 'client_secret_post' });
    const ok = await postForm(`${s.url}/token`, { grant_type: 'client_credentials', resource: RESOURCE, client_id: post.id, client_secret: post.secret! });
    expect(ok.status).toBe(200);
    expectInvalidClient(await ccBasic(s, post));
    const basic = await addMachine(s);
    expectInvalidClient(await ccBasic(s, { id: basic.id, secret: 'wrong-secret' }));
    expectInvalidClient(await postForm(`${s.url}/token`, { grant_type: 'client_credentials', resource: RESOURCE, client_id: basic.id, client_secret: basic.secret! }));
    const line = JSON.stringify(s.auditEvents());
    expect(line).toContain('client.auth_failed');
    for (const secret of ['wrong-secret', basic.secret!, post.secret!]) expect(line).not.toContain(secret);
  });

  it('[EXT-CC-GRANT] a client not registered for the grant gets unauthorized_client; a public one too', async () => {
    const interactive = await addClient(s, { method: 'client_secret_basic' });
    expectError(await ccBasic(s, interactive), 400, 'unauthorized_client');
    const pub = await addClient(s, { method: 'none', grantTypes: ['authorization_code', 'client_credentials'] });
    expectError(await postForm(`${s.url}/token`, { grant_type: 'client_credentials', resource: RESOURCE, client_id: pub.id }), 400, 'unauthorized_client');
  });

  it('[EXT-CC-GRANT] unknown grant types are unsupported_grant_type', async () => {
    const c = await addMachine(s);
    expectError(await ccBasic(s, c, { grant_type: 'password' }), 400, 'unsupported_grant_type');
  });

  it('[EXT-CC-GRANT] scope is requested ∩ the client\'s ∩ the role\'s; nothing left is invalid_scope, and a role change applies at once', async () => {
    const c = await addMachine(s, { role: 'developer', scope: 'db:read db:write' });
    expect((await ccBasic(s, c, { scope: 'db:write' })).body.scope).toBe('db:write');
    expect((await ccBasic(s, c, { scope: 'db:write db:admin' })).body.scope).toBe('db:write');
    expectError(await ccBasic(s, c, { scope: 'db:admin' }), 400, 'invalid_scope');
    expectError(await ccBasic(s, c, { scope: 'no:such' }), 400, 'invalid_scope');
    await s.sql('update clients set role = ? where id = ?', 'viewer', c.id);
    expect((await ccBasic(s, c)).body.scope).toBe('db:read');
    expectError(await ccBasic(s, c, { scope: 'db:write' }), 400, 'invalid_scope');
    await s.sql('update clients set role = ? where id = ?', 'auditor', c.id);
    expectError(await ccBasic(s, c), 400, 'unauthorized_client');
  });

  it('[EXT-CC-GRANT] [RFC8707-INVALID-TARGET] resource is required and must be one of ours', async () => {
    const c = await addMachine(s);
    const missing = await postForm(`${s.url}/token`, { grant_type: 'client_credentials' }, { authorization: basicHeader(c.id, c.secret!) });
    expectError(missing, 400, 'invalid_target');
    expectError(await ccBasic(s, c, { resource: 'https://elsewhere.example/mcp' }), 400, 'invalid_target');
  });
});

describe('token endpoint: private_key_jwt (RFC 7523 §2.2)', () => {
  let s: TestAuthServer;
  beforeEach(async () => { s = await startAuthServer(); });
  afterEach(async () => { await s.close(); });

  it('[EXT-CC-AUTH-METHODS] [RFC7523-CLIENT-AUTH] accepts the assertion the conformance mock sends (ES256, typ JWT, no kid, aud = issuer, no client_id), also with aud = token endpoint', async () => {
    const k = await clientKey();
    const c = await addMachine(s, { authMethod: 'private_key_jwt', jwks: { keys: [k.jwk] } });
    const r = await ccJwt(s, await assertion(k.privateKey, c.id, { aud: s.url }));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(decodeJwt(String(r.body.access_token))).toMatchObject({ sub: c.id, client_id: c.id, scope: 'db:read' });
    expect((await ccJwt(s, await assertion(k.privateKey, c.id, { aud: `${s.url}/token` }), { client_id: c.id })).status).toBe(200);
  });

  it('[RFC7523-JTI-REPLAY] [RFC7523-ERRORS] a replayed assertion is invalid_client', async () => {
    const k = await clientKey();
    const c = await addMachine(s, { authMethod: 'private_key_jwt', jwks: { keys: [k.jwk] } });
    const jwt = await assertion(k.privateKey, c.id, { aud: s.url });
    expect((await ccJwt(s, jwt)).status).toBe(200);
    const again = await ccJwt(s, jwt);
    expectInvalidClient(again);
    expect(again.body.error_description).toMatch(/already been used/);
    expect(JSON.stringify(s.auditEvents())).not.toContain(jwt);
  });

  it('[RFC7523-AUD] [RFC7523-EXP] [RFC7523-CLIENT-AUTH] wrong audience, expired, too long-lived, another client\'s key and a secret-based client are invalid_client', async () => {
    const k = await clientKey();
    const c = await addMachine(s, { authMethod: 'private_key_jwt', jwks: { keys: [k.jwk] } });
    expectInvalidClient(await ccJwt(s, await assertion(k.privateKey, c.id, { aud: 'https://other.example' })));
    const past = Math.floor(Date.now() / 1000) - 3600;
    expectInvalidClient(await ccJwt(s, await assertion(k.privateKey, c.id, { aud: s.url, iat: past })));
    expectInvalidClient(await ccJwt(s, await assertion(k.privateKey, c.id, { aud: s.url, lifetime: 3600 })));
    const other = await clientKey();
    expectInvalidClient(await ccJwt(s, await assertion(other.privateKey, c.id, { aud: s.url })));
    // A secret client presenting an assertion: the registered method decides.
    const secretClient = await addMachine(s);
    expectInvalidClient(await ccJwt(s, await assertion(k.privateKey, secretClient.id, { aud: s.url })));
    // An assertion and a secret at once is invalid_request (one method only).
    const both = await postForm(`${s.url}/token`, {
      grant_type: 'client_credentials', resource: RESOURCE, client_assertion_type: ASSERTION_TYPE,
      client_assertion: await assertion(k.privateKey, c.id, { aud: s.url }),
    }, { authorization: basicHeader(secretClient.id, secretClient.secret!) });
    expectError(both, 400, 'invalid_request');
    expectInvalidClient(await ccJwt(s, 'not-a-jwt'));
    expectInvalidClient(await ccJwt(s, await assertion(k.privateKey, c.id, { aud: s.url }), { client_assertion_type: 'urn:other' }));
  });
});

describe('private_key_jwt with a jwks_uri', () => {
  let jwksServer: Server;
  let jwksUrl: string;
  let served: { keys: JWK[] };
  let fetches = 0;
  beforeEach(async () => {
    fetches = 0;
    jwksServer = createServer((_req, res) => {
      fetches++;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(served));
    });
    await new Promise<void>((r) => jwksServer.listen(0, '127.0.0.1', r));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks.json`;
  });
  afterEach(async () => { await new Promise((r) => jwksServer.close(r)); });

  it('[EXT-CC-AUTH-METHODS] [RFC7523-CLIENT-AUTH] fetches the keys through the guard, caches them, and fetches again for an unknown kid', async () => {
    // Loopback is reachable only with CIMD_ALLOW_PRIVATE_ADDRESSES (development and tests), as for metadata documents.
    let t = Date.now();
    await using s = await startAuthServer({ CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' }, { now: () => t });
    const k1 = await clientKey('k1');
    served = { keys: [k1.jwk] };
    const c = await addMachine(s, { authMethod: 'private_key_jwt', jwksUri: jwksUrl });
    expect((await ccJwt(s, await assertion(k1.privateKey, c.id, { aud: s.url, kid: 'k1' }))).status).toBe(200);
    expect((await ccJwt(s, await assertion(k1.privateKey, c.id, { aud: s.url, kid: 'k1' }))).status).toBe(200);
    expect(fetches).toBe(1);
    // The client rotates: an assertion with a new kid makes the server look again (rate-limited: right after a fetch it does not).
    const k2 = await clientKey('k2');
    served = { keys: [k1.jwk, k2.jwk] };
    expectInvalidClient(await ccJwt(s, await assertion(k2.privateKey, c.id, { aud: s.url, kid: 'k2' })));
    expect(fetches).toBe(1);
    t += 31_000;
    expect((await ccJwt(s, await assertion(k2.privateKey, c.id, { aud: s.url, kid: 'k2', iat: Math.floor(t / 1000) }))).status).toBe(200);
    expect(fetches).toBe(2);
  });

  it('[EXT-CC-AUTH-METHODS] refuses a jwks_uri that resolves to a loopback or private address (SSRF guard), with invalid_client', async () => {
    await using s = await startAuthServer();
    const k = await clientKey();
    served = { keys: [k.jwk] };
    const c = await addMachine(s, { authMethod: 'private_key_jwt', jwksUri: jwksUrl });
    const r = await ccJwt(s, await assertion(k.privateKey, c.id, { aud: s.url }));
    expectInvalidClient(r);
    expect(r.body.error_description).toMatch(/private or special-use address/);
    expect(fetches).toBe(0);
  });
});

describe('dynamic registration of client_credentials clients', () => {
  const register = (s: TestAuthServer, body: unknown) => fetch(`${s.url}/register`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, unknown> }));

  it('[EXT-CC-DCR-GATED] is refused unless the stack file allows it', async () => {
    await using s = await startAuthServer();
    const r = await register(s, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'client_secret_basic', client_name: 'bot' });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ error: 'invalid_client_metadata', error_description: expect.stringContaining('not open to dynamic registration') });
  });

  it('[EXT-CC-DCR-GATED] [EXT-CC-GRANT] with registration.client_credentials_role, registers confidential clients with that role only', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cc-stack-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(file, `${readFileSync(resolve(import.meta.dirname, '../../../stack.yaml'), 'utf8')}\nregistration:\n  client_credentials_role: viewer\n`);
    try {
      await using s = await startAuthServer({ STACK_FILE: file });
      const pub = await register(s, { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' });
      expect(pub.body.error).toBe('invalid_client_metadata');
      const r = await register(s, { grant_types: ['client_credentials'], client_name: 'bot' });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      expect(r.body).toMatchObject({ grant_types: ['client_credentials'], redirect_uris: [], response_types: [], token_endpoint_auth_method: 'client_secret_basic' });
      const token = await ccBasic(s, { id: String(r.body.client_id), secret: String(r.body.client_secret) });
      expect(token.status, JSON.stringify(token.body)).toBe(200);
      expect(decodeJwt(String(token.body.access_token))).toMatchObject({ role: 'viewer', scope: 'db:read', sub: r.body.client_id });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
