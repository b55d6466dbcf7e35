import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompactSign, SignJWT, calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, type JWK } from 'jose';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import { RESOURCE, addClient, basicHeader, postForm, type FormResponse, type TestClient } from './token-fixtures.ts';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
const IDP = 'https://idp.test';
const K8S = 'https://k8s.test';
const SA = 'system:serviceaccount:ci:deployer';

interface SigningKey {
  privateKey: CryptoKey;
  jwk: JWK;
}

async function signingKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** The shipped stack file plus a trusted IdP and workload issuer whose keys the loopback server serves. */
function stackFile(jwksBase: string): string {
  const shipped = readFileSync(resolve(import.meta.dirname, '../../../stack.yaml'), 'utf8');
  return `${shipped}
enterprise_idps:
  - issuer: ${IDP}
    jwks_uri: ${jwksBase}/idp
    clients: [agent-app, public-app]
    roles: { engineering: developer, staff: viewer }
workload_issuers:
  - issuer: ${K8S}
    jwks_uri: ${jwksBase}/k8s
    subject_pattern: "system:serviceaccount:ci:[a-z-]+"
    client_id: ci-runner
    role: viewer
`;
}

interface JagOptions {
  iss?: string;
  aud?: string;
  clientId?: string;
  sub?: string;
  groups?: unknown;
  scope?: string;
  resource?: string | string[];
  jti?: string;
  iat?: number;
  lifetime?: number;
  typ?: string;
  key?: SigningKey;
}

describe('token endpoint: jwt-bearer grant (ID-JAG and workload tokens)', () => {
  let s: TestAuthServer;
  let jwks: Server;
  let dir: string;
  let idpKey: SigningKey;
  let k8sKey: SigningKey;
  let rogueKey: SigningKey;
  let agent: TestClient;
  let other: TestClient;

  beforeAll(async () => {
    [idpKey, k8sKey, rogueKey] = await Promise.all([signingKey('idp-1'), signingKey('k8s-1'), signingKey('idp-1')]);
    jwks = createServer((req, res) => {
      const key = req.url === '/idp' ? idpKey : req.url === '/k8s' ? k8sKey : undefined;
      res.writeHead(key ? 200 : 404, { 'content-type': 'application/json' }).end(key ? JSON.stringify({ keys: [key.jwk] }) : '{}');
    });
    await new Promise<void>((r) => jwks.listen(0, '127.0.0.1', r));
    dir = mkdtempSync(join(tmpdir(), 'jwt-bearer-'));
    const file = join(dir, 'stack.yaml');
    writeFileSync(file, stackFile(`http://127.0.0.1:${(jwks.address() as AddressInfo).port}`));
    // Loopback keys are reachable only with CIMD_ALLOW_PRIVATE_ADDRESSES, as for client jwks_uri.
    s = await startAuthServer({ STACK_FILE: file, CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' });
    agent = await addClient(s, { id: 'agent-app', method: 'client_secret_basic', grantTypes: ['authorization_code'] });
    other = await addClient(s, { id: 'other-app', method: 'client_secret_basic' });
    await addClient(s, { id: 'public-app', method: 'none' });
    await addClient(s, { id: 'ci-runner', method: 'none' });
  });
  afterAll(async () => {
    await s.close();
    await new Promise((r) => jwks.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  function idJag(o: JagOptions = {}): Promise<string> {
    const iat = o.iat ?? Math.floor(Date.now() / 1000);
    const claims: Record<string, unknown> = {
      client_id: o.clientId ?? 'agent-app', jti: o.jti ?? randomUUID(), groups: 'groups' in o ? o.groups : ['engineering'],
      ...(o.scope !== undefined ? { scope: o.scope } : {}), ...(o.resource !== undefined ? { resource: o.resource } : {}),
    };
    return new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', typ: o.typ ?? 'oauth-id-jag+jwt', kid: 'idp-1' })
      .setIssuer(o.iss ?? IDP).setSubject(o.sub ?? 'alice').setAudience(o.aud ?? s.url)
      .setIssuedAt(iat).setExpirationTime(iat + (o.lifetime ?? 300))
      .sign((o.key ?? idpKey).privateKey);
  }

  function workloadToken(o: { iss?: string; aud?: string; sub?: string; iat?: number; lifetime?: number; key?: SigningKey } = {}): Promise<string> {
    const iat = o.iat ?? Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k8s-1' })
      .setIssuer(o.iss ?? K8S).setSubject(o.sub ?? SA).setAudience(o.aud ?? `${s.url}/token`)
      .setIssuedAt(iat).setExpirationTime(iat + (o.lifetime ?? 600))
      .sign((o.key ?? k8sKey).privateKey);
  }

  const asClient = (c: TestClient, params: Record<string, string>): Promise<FormResponse> =>
    postForm(`${s.url}/token`, { grant_type: JWT_BEARER, ...params }, c.secret ? { authorization: basicHeader(c.id, c.secret) } : {});
  const present = (assertion: string, extra: Record<string, string> = {}) => asClient(agent, { assertion, resource: RESOURCE, ...extra });

  function expectError(r: FormResponse, status: number, error: string, description?: RegExp): void {
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.body.error).toBe(error);
    if (description) expect(String(r.body.error_description)).toMatch(description);
    expect(r.headers.get('cache-control')).toBe('no-store');
  }

  it('[EMA-GRANT] [EMA-IDJAG-VALID] [EMA-IDJAG-SCOPE] [EMA-ROLE] a valid ID-JAG gives a token for the resource with the mapped role, scopes capped by role and ID-JAG, no refresh token, audited', async () => {
    const r = await present(await idJag({ scope: 'db:read db:write db:admin' }));
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body).toMatchObject({ token_type: 'Bearer', scope: 'db:read db:write' });
    expect(r.body.refresh_token).toBeUndefined();
    const claims = decodeJwt(String(r.body.access_token));
    expect(claims).toMatchObject({ sub: `${IDP}|alice`, client_id: 'agent-app', role: 'developer', aud: RESOURCE, iss: s.url, scope: 'db:read db:write' });
    const ev = s.auditEvents().find((e) => e.event === 'token.issued' && e.grant === 'jwt-bearer');
    expect(ev).toMatchObject({ assertion: 'id-jag', issuer: IDP, subject: `${IDP}|alice`, client: 'agent-app', role: 'developer', resource: RESOURCE, refresh: false, decision: 'allow' });

    // The requested scope narrows it; without an ID-JAG scope the role alone caps it.
    const narrow = await present(await idJag({ scope: 'db:read db:write' }), { scope: 'db:read' });
    expect(narrow.body.scope).toBe('db:read');
    const viewer = await present(await idJag({ groups: 'staff', resource: RESOURCE }), { resource: '' });
    expect(viewer.status, JSON.stringify(viewer.body)).toBe(200);
    expect(viewer.body.scope).toBe('db:read');
    expect(decodeJwt(String(viewer.body.access_token)).role).toBe('viewer');
  });

  it('[EMA-IDJAG-REPLAY] a replayed ID-JAG is invalid_grant', async () => {
    const jag = await idJag();
    expect((await present(jag)).status).toBe(200);
    expectError(await present(jag), 400, 'invalid_grant', /already been used/);
  });

  it('[EMA-IDJAG-AUD] [EMA-IDJAG-ISSUER] [EMA-IDJAG-CLAIMS] [EMA-IDJAG-TYP] wrong aud, untrusted issuer, another key, expired or a wrong typ are invalid_grant, nothing echoed', async () => {
    expectError(await present(await idJag({ aud: 'https://elsewhere.example' })), 400, 'invalid_grant', /audience/);
    expectError(await present(await idJag({ iss: 'https://evil.test' })), 400, 'invalid_grant', /not trusted/);
    expectError(await present(await idJag({ key: rogueKey })), 400, 'invalid_grant', /signature/);
    expectError(await present(await idJag({ iat: Math.floor(Date.now() / 1000) - 1000 })), 400, 'invalid_grant', /expired/);
    // typ JWT is not an ID-JAG: it is taken as a workload token, whose issuer the IdP is not.
    const wrongTyp = await present(await idJag({ typ: 'JWT', sub: 'secret-subject' }));
    expectError(wrongTyp, 400, 'invalid_grant', /workload token issuer is not trusted/);
    expect(JSON.stringify(wrongTyp.body)).not.toContain('secret-subject');
  });

  it('[EMA-IDJAG-CLIENT] the ID-JAG client_id must be the authenticated confidential client, one the IdP lists', async () => {
    expectError(await present(await idJag({ clientId: 'other-app' })), 400, 'invalid_grant', /not the authenticated client/);
    expectError(await asClient(other, { assertion: await idJag({ clientId: 'other-app' }), resource: RESOURCE }), 400, 'invalid_grant', /may not grant access to this client/);
    expectError(await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, client_id: 'public-app', assertion: await idJag({ clientId: 'public-app' }), resource: RESOURCE }), 400, 'unauthorized_client');
    expectError(await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: await idJag(), resource: RESOURCE }), 401, 'invalid_client');
  });

  it('[EMA-IDJAG-RESOURCE] a resource that is not ours, in the ID-JAG or the request, or that disagrees with the ID-JAG, is invalid_target', async () => {
    expectError(await present(await idJag({ resource: 'https://other.example/mcp' })), 400, 'invalid_target');
    expectError(await present(await idJag(), { resource: 'https://other.example/mcp' }), 400, 'invalid_target');
    expectError(await present(await idJag({ resource: RESOURCE }), { resource: 'http://127.0.0.1:4999/other' }), 400, 'invalid_target');
    expectError(await present(await idJag(), { resource: '' }), 400, 'invalid_target');
  });

  it('[EMA-ROLE] a subject no mapping gives a role to is invalid_grant; no scope left is invalid_scope', async () => {
    expectError(await present(await idJag({ groups: ['sales'] })), 400, 'invalid_grant', /^no role for this user$/);
    expectError(await present(await idJag({ groups: undefined })), 400, 'invalid_grant', /^no role for this user$/);
    expectError(await present(await idJag({ groups: 'staff', scope: 'db:admin' })), 400, 'invalid_scope');
    expectError(await present(await idJag(), { scope: 'nope:nothing' }), 400, 'invalid_scope');
  });

  it('[RFC7523-GRANT-ERRORS] a missing assertion is invalid_request', async () => {
    expectError(await asClient(agent, { resource: RESOURCE }), 400, 'invalid_request', /assertion/);
  });

  it('[WIF-GRANT] [WIF-SUBJECT] a workload token without client authentication acts as its issuer\'s client, with its role; the same client may authenticate, another may not', async () => {
    const r = await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: await workloadToken(), resource: RESOURCE });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(r.body.refresh_token).toBeUndefined();
    expect(decodeJwt(String(r.body.access_token))).toMatchObject({ sub: `${K8S}|${SA}`, client_id: 'ci-runner', role: 'viewer', scope: 'db:read', aud: RESOURCE });
    expect(s.auditEvents().find((e) => e.grant === 'jwt-bearer' && e.assertion === 'workload')).toMatchObject({ issuer: K8S, subject: `${K8S}|${SA}`, client: 'ci-runner' });
    const same = await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, client_id: 'ci-runner', assertion: await workloadToken(), resource: RESOURCE });
    expect(same.status, JSON.stringify(same.body)).toBe(200);
    expectError(await asClient(agent, { assertion: await workloadToken(), resource: RESOURCE }), 400, 'invalid_grant', /does not act for this client/);
    expectError(await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: await workloadToken({ sub: 'system:serviceaccount:prod:admin' }), resource: RESOURCE }), 400, 'invalid_grant', /subject/);
  });

  it('[WIF-CLAIMS] [WIF-AUD] [WIF-TRUSTED-ISSUER] [WIF-REPLAY] expired, wrong aud, untrusted or replayed workload tokens are invalid_grant', async () => {
    const post = async (assertion: string) => postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion, resource: RESOURCE });
    expectError(await post(await workloadToken({ iat: Math.floor(Date.now() / 1000) - 4000 })), 400, 'invalid_grant', /expired/);
    expectError(await post(await workloadToken({ aud: 'https://elsewhere.example' })), 400, 'invalid_grant', /audience/);
    expectError(await post(await workloadToken({ iss: 'https://evil.test' })), 400, 'invalid_grant', /not trusted/);
    expectError(await post(await workloadToken({ key: rogueKey })), 400, 'invalid_grant');
    const once = await workloadToken();
    expect((await post(once)).status).toBe(200);
    expectError(await post(once), 400, 'invalid_grant', /already been used/);
  });

  it('[EMA-GRANT] [WIF-GRANT] [RFC9449-TOKEN-TYPE] with a DPoP proof the token is DPoP-bound (cnf.jkt), for an ID-JAG and a workload token', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(publicKey);
    const jkt = await calculateJwkThumbprint(jwk, 'sha256');
    const dpop = () => new CompactSign(new TextEncoder().encode(JSON.stringify({ jti: randomUUID(), htm: 'POST', htu: `${s.url}/token`, iat: Math.floor(Date.now() / 1000) })))
      .setProtectedHeader({ typ: 'dpop+jwt', alg: 'ES256', jwk }).sign(privateKey);
    const jag = await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: await idJag(), resource: RESOURCE }, { authorization: basicHeader(agent.id, agent.secret!), dpop: await dpop() });
    expect(jag.status, JSON.stringify(jag.body)).toBe(200);
    expect(jag.body.token_type).toBe('DPoP');
    expect(decodeJwt(String(jag.body.access_token)).cnf).toEqual({ jkt });
    const wl = await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: await workloadToken(), resource: RESOURCE }, { dpop: await dpop() });
    expect(wl.status, JSON.stringify(wl.body)).toBe(200);
    expect(decodeJwt(String(wl.body.access_token)).cnf).toEqual({ jkt });
  });

  it('[RFC7523-METADATA] grant_types_supported lists jwt-bearer when an issuer is trusted', async () => {
    const res = await fetch(`${s.url}/.well-known/oauth-authorization-server`);
    expect(((await res.json()) as { grant_types_supported: string[] }).grant_types_supported).toContain(JWT_BEARER);
  });

  it('[RFC7523-GRANT-ERRORS] [RFC7523-ERRORS] seeded fuzzing of the jwt-bearer and client_credentials parameters never gives a 5xx', async () => {
    let seed = 0x5eed13;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
    const junk = (n: number) => Array.from({ length: n }, () => String.fromCharCode(Math.floor(rand() * 0x250))).join('');
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    const valid = [await idJag(), await workloadToken(), await idJag({ clientId: 'public-app' })];
    const mutate = (t: string) => {
      const i = Math.floor(rand() * t.length);
      return `${t.slice(0, i)}${pick(['A', '.', '_', '', '-', '%', 'x'.repeat(40)])}${t.slice(i + 1)}`;
    };
    const assertions = () => pick([
      () => mutate(pick(valid)),
      () => junk(Math.floor(rand() * 80)),
      () => `${b64(pick([{ alg: 'none', typ: 'oauth-id-jag+jwt' }, { alg: 'HS256' }, { typ: 7 }, [], 'x']))}.${b64(pick([{ iss: IDP }, { iss: K8S, sub: SA }, { iss: ['x'] }, null, 'x']))}.${b64(junk(8))}`,
      () => 'a'.repeat(pick([0, 1, 17_000])),
      () => pick(valid),
    ])();
    const auths: (() => Record<string, string>)[] = [
      () => ({}), () => ({ authorization: basicHeader(agent.id, agent.secret!) }), () => ({ authorization: `Basic ${b64(junk(10))}` }),
      () => ({ authorization: pick(['Bearer x', 'Basic', 'Basic ====']) }),
    ];
    const optional = (name: string, values: () => string) => (rand() < 0.5 ? { [name]: values() } : {});
    for (let i = 0; i < 120; i++) {
      const grant = i % 3 === 2 ? 'client_credentials' : JWT_BEARER;
      const form = new URLSearchParams({
        grant_type: grant,
        ...optional('assertion', assertions),
        ...optional('scope', () => pick(['db:read', 'offline_access', junk(5), '', ' db:read  db:write', 'db:admin'])),
        ...optional('resource', () => pick([RESOURCE, RESOURCE.toUpperCase(), junk(12), '', 'http://127.0.0.1:4999/mcp#x', 'urn:x'])),
        ...optional('client_id', () => pick(['agent-app', 'ci-runner', 'public-app', junk(6), ''])),
        ...optional('client_assertion_type', () => pick(['urn:ietf:params:oauth:client-assertion-type:jwt-bearer', junk(4)])),
        ...optional('client_assertion', assertions),
      });
      const r = await s.app.inject({ method: 'POST', url: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded', ...pick(auths)() }, payload: form.toString() });
      expect(r.statusCode, `case ${i}: ${r.body}`).toBeLessThan(500);
      if (r.statusCode !== 200) expect(typeof r.json<{ error?: unknown }>().error, `case ${i}`).toBe('string');
    }
  });

  it('[WIF-GRANT] revoking the workload issuer\'s client ends its grants: invalid_grant, and its tokens are revoked', async () => {
    const r = await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: await workloadToken(), resource: RESOURCE });
    const jti = String(decodeJwt(String(r.body.access_token)).jti);
    // Last in this block: the workload's client stays revoked.
    await s.app.ctx.store.clients.revoke('ci-runner', Date.now());
    expect(await s.app.ctx.store.tokens.isAccessTokenRevoked(jti)).toBe(true);
    expectError(await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: await workloadToken(), resource: RESOURCE }), 400, 'invalid_grant', /not registered/);
  });
});

describe('jwt-bearer grant without trusted issuers', () => {
  it('[RFC7523-METADATA] is not advertised and is unsupported_grant_type', async () => {
    await using s = await startAuthServer();
    const meta = (await (await fetch(`${s.url}/.well-known/oauth-authorization-server`)).json()) as { grant_types_supported: string[] };
    expect(meta.grant_types_supported).not.toContain(JWT_BEARER);
    const r = await postForm(`${s.url}/token`, { grant_type: JWT_BEARER, assertion: 'a.b.c' });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('unsupported_grant_type');
  });
});
