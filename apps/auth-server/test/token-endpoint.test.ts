import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  REDIRECT_URI, RESOURCE, addClient, addUser, basicHeader, issueCode, postForm, redeem, tokenRequest, type IssuedCode, type TestClient,
} from './token-fixtures.ts';
import { hashSecret, type UserRecord } from '../src/services/users.ts';

function codeParams(c: IssuedCode): Record<string, string> {
  return { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier, resource: RESOURCE };
}

function expectInvalidClient(r: { status: number; headers: Headers; body: Record<string, unknown> }): void {
  expect(r.status).toBe(401);
  expect(r.body.error).toBe('invalid_client');
  expect(r.headers.get('www-authenticate')).toMatch(/^Basic /);
  expect(r.headers.get('cache-control')).toBe('no-store');
}

describe('token endpoint: client authentication and request checks', () => {
  let s: TestAuthServer;
  let user: UserRecord;
  beforeEach(async () => {
    s = await startAuthServer();
    user = await addUser(s);
  });
  afterEach(async () => { await s.close(); });

  it('[OAUTH21-CLIENT-AUTH] accepts client_secret_basic with form-urlencoded id and secret (RFC 6749 §2.3.1)', async () => {
    const client = await addClient(s, { method: 'client_secret_basic', id: 'tool a+b:c', secret: 'p@ss w%rd:+/=' });
    const r = await redeem(s, client, await issueCode(s, client, user));
    expect(r.status).toBe(200);
    expect(r.body.token_type).toBe('Bearer');
  });

  it('[MCP-AS-OAUTH21] [OAUTH21-CLIENT-AUTH] serves confidential (client_secret_post) and public clients (client_id only)', async () => {
    const post = await addClient(s, { method: 'client_secret_post' });
    expect((await redeem(s, post, await issueCode(s, post, user))).status).toBe(200);
    const pub = await addClient(s, { method: 'none' });
    expect((await redeem(s, pub, await issueCode(s, pub, user))).status).toBe(200);
  });

  it('[OAUTH21-CLIENT-AUTH] refuses a wrong secret with 401 invalid_client and WWW-Authenticate Basic, and audits it', async () => {
    const client = await addClient(s, { method: 'client_secret_basic' });
    const c = await issueCode(s, client, user);
    const r = await postForm(`${s.url}/token`, codeParams(c), { authorization: basicHeader(client.id, 'wrong-secret') });
    expectInvalidClient(r);
    const ev = s.auditEvents().find((e) => e.event === 'client.auth_failed');
    expect(ev).toMatchObject({ client: client.id, method: 'client_secret_basic', decision: 'deny' });
    expect(JSON.stringify(s.auditEvents())).not.toContain('wrong-secret');
    // The code was not burnt by the failed attempt.
    expect((await redeem(s, client, c)).status).toBe(200);
  });

  it('[OAUTH21-CLIENT-AUTH] refuses a method other than the registered one', async () => {
    const basic = await addClient(s, { method: 'client_secret_basic' });
    const asPost = await postForm(`${s.url}/token`, { ...codeParams(await issueCode(s, basic, user)), client_id: basic.id, client_secret: basic.secret! });
    expectInvalidClient(asPost);
    const asNone = await postForm(`${s.url}/token`, { ...codeParams(await issueCode(s, basic, user)), client_id: basic.id });
    expectInvalidClient(asNone);
    const pub = await addClient(s, { method: 'none' });
    const pubWithSecret = await postForm(`${s.url}/token`, { ...codeParams(await issueCode(s, pub, user)), client_id: pub.id, client_secret: 'x' });
    expectInvalidClient(pubWithSecret);
  });

  it('[OAUTH21-CLIENT-AUTH] refuses unknown clients and requests without any client identification', async () => {
    const c = await issueCode(s, await addClient(s), user);
    expectInvalidClient(await postForm(`${s.url}/token`, { ...codeParams(c), client_id: 'no-such-client' }));
    expectInvalidClient(await postForm(`${s.url}/token`, codeParams(c)));
    expectInvalidClient(await postForm(`${s.url}/token`, codeParams(c), { authorization: 'Basic !!!' }));
  });

  it('[OAUTH21-CLIENT-AUTH] refuses two authentication methods at once with invalid_request', async () => {
    const client = await addClient(s, { method: 'client_secret_basic' });
    const r = await postForm(
      `${s.url}/token`,
      { ...codeParams(await issueCode(s, client, user)), client_secret: client.secret! },
      { authorization: basicHeader(client.id, client.secret!) },
    );
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_request');
  });

  it('[OAUTH21-ERROR-RESPONSE] answers a missing grant_type with invalid_request naming it, an unknown one with unsupported_grant_type', async () => {
    const client = await addClient(s);
    const missing = await tokenRequest(s, client, { code: 'x' });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'grant_type'" });
    for (const gt of ['password', 'urn:ietf:params:oauth:grant-type:device_code', 'constructor', '__proto__']) {
      const r = await tokenRequest(s, client, { grant_type: gt });
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('unsupported_grant_type');
      expect(r.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('[OAUTH21-ERROR-RESPONSE] answers unauthorized_client when the client may not use the grant type', async () => {
    const client = await addClient(s, { grantTypes: ['authorization_code'] });
    const r = await tokenRequest(s, client, { grant_type: 'refresh_token', refresh_token: 'x' });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('unauthorized_client');
  });

  it('[OAUTH21-DUPLICATE-PARAMS] refuses a repeated parameter, naming it', async () => {
    const client = await addClient(s);
    const c = await issueCode(s, client, user);
    const body = `${new URLSearchParams({ ...codeParams(c), client_id: client.id })}&code=${c.code}`;
    const r = await postForm(`${s.url}/token`, body);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_request', error_description: "parameter 'code' is included more than once" });
    expect(r.headers.get('cache-control')).toBe('no-store');
  });

  it('[OAUTH21-ERROR-RESPONSE] refuses any content type but application/x-www-form-urlencoded', async () => {
    const client = await addClient(s);
    const json = await fetch(`${s.url}/token`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'authorization_code', client_id: client.id }),
    });
    expect(json.status).toBe(400);
    expect(await json.json()).toMatchObject({ error: 'invalid_request' });
    const xml = await fetch(`${s.url}/token`, { method: 'POST', headers: { 'content-type': 'application/xml' }, body: '<x/>' });
    expect(xml.status).toBe(415);
    expect(xml.headers.get('cache-control')).toBe('no-store');
  });

  it('refuses a body over BODY_LIMIT_BYTES with 413', async () => {
    await using small = await startAuthServer({ BODY_LIMIT_BYTES: '1024' });
    const r = await postForm(`${small.url}/token`, { grant_type: 'authorization_code', code: 'x'.repeat(2000) });
    expect(r.status).toBe(413);
    expect(r.body.error).toBe('request_too_large');
  });

  it('lets browser-based clients read token and revocation responses (CORS, no credentials)', async () => {
    const client = await addClient(s);
    const ok = await redeem(s, client, await issueCode(s, client, user));
    expect(ok.headers.get('access-control-allow-origin')).toBe('*');
    const err = await tokenRequest(s, client, { grant_type: 'password' });
    expect(err.headers.get('access-control-allow-origin')).toBe('*');
    for (const path of ['/token', '/revoke']) {
      const pre = await fetch(`${s.url}${path}`, {
        method: 'OPTIONS', headers: { origin: 'http://localhost:6274', 'access-control-request-method': 'POST' },
      });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('*');
      expect(pre.headers.get('access-control-allow-methods')).toBe('POST');
      expect(pre.headers.get('access-control-allow-credentials')).toBeNull();
    }
  });

  it('does not answer GET on the token endpoint with a token', async () => {
    const res = await fetch(`${s.url}/token?grant_type=authorization_code`);
    expect(res.status).toBe(404);
  });
});

describe('token endpoint: client authentication limits and stored secrets', () => {
  it('[RFC9700-BRUTE-FORCE] answers 429 with Retry-After once an address has failed too often, whatever the client', async () => {
    await using s = await startAuthServer({ LOGIN_MAX_FAILURES_PER_ADDRESS: '3' });
    const client = await addClient(s, { method: 'client_secret_basic' });
    const params = { grant_type: 'refresh_token', refresh_token: 'x' };
    for (let i = 0; i < 3; i++) {
      expectInvalidClient(await postForm(`${s.url}/token`, params, { authorization: basicHeader(client.id, `wrong-${i}`) }));
    }
    const limited = await postForm(`${s.url}/token`, params, { authorization: basicHeader(client.id, client.secret!) });
    expect(limited.status).toBe(429);
    expect(limited.body.error).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    const elsewhere = await postForm(`${s.url}/revoke`, { token: 'x', client_id: 'other' });
    expect(elsewhere.status).toBe(429);
  });

  it('[OAUTH21-CLIENT-AUTH] still refuses a wrong secret after a correct one was accepted', async () => {
    await using s = await startAuthServer();
    const user = await addUser(s);
    const client: TestClient = await addClient(s, { method: 'client_secret_post' });
    expect((await redeem(s, client, await issueCode(s, client, user))).status).toBe(200);
    const wrong = { ...client, secret: `${client.secret!}x` };
    expectInvalidClient(await redeem(s, wrong, await issueCode(s, client, user)));
    expect((await redeem(s, client, await issueCode(s, client, user))).status).toBe(200);
  });

  it('[AUTH-CLIENT-SECRET-HASH] a secret stored as an argon2id hash still authenticates and is re-hashed to the salted HMAC form on that use; a wrong one fails either way', async () => {
    await using s = await startAuthServer();
    const user = await addUser(s);
    const client = await addClient(s, { method: 'client_secret_basic' });
    // As registration stored secrets before: argon2id.
    await s.sql('update clients set secret_hash = ? where id = ?', await hashSecret(s.app.ctx.argon2, client.secret!), client.id);
    const storedHash = async () => String((await s.sql<{ secret_hash: string }>('select secret_hash from clients where id = ?', client.id))[0]!.secret_hash);
    const argon2Hash = await storedHash();
    expect(argon2Hash).toMatch(/^\$argon2id\$/);

    const wrong: TestClient = { ...client, secret: `${client.secret!}x` };
    expectInvalidClient(await redeem(s, wrong, await issueCode(s, client, user)));
    expect(await storedHash()).toBe(argon2Hash);

    expect((await redeem(s, client, await issueCode(s, client, user))).status).toBe(200);
    const migrated = await storedHash();
    expect(migrated).toMatch(/^hmac-sha256\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/);
    expect(migrated).not.toContain(client.secret!);

    expect((await redeem(s, client, await issueCode(s, client, user))).status).toBe(200);
    expect(await storedHash()).toBe(migrated);
    expectInvalidClient(await redeem(s, wrong, await issueCode(s, client, user)));
  });
});
