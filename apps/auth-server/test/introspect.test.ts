import { beforeEach, describe, expect, it } from 'vitest';
import type { TestAuthServer } from './helpers.ts';
import {
  RESOURCE, addClient, basicHeader, jtiOf, login, postForm, refresh, useTokenServer, withClientAuth, type TestClient,
} from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';
import { setResourceServer } from '../src/services/client-admin.ts';

async function postJson(url: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe('token introspection (RFC 7662)', () => {
  let s: TestAuthServer;
  let rs: TestClient;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t));
  beforeEach(async () => {
    rs = await addClient(s, { method: 'client_secret_basic' });
    await setResourceServer(s.app.ctx.store, rs.id, true);
  });

  const introspect = (c: TestClient, params: Record<string, string>) => {
    const r = withClientAuth(c, params);
    return postForm(`${s.url}/introspect`, r.params, r.headers);
  };

  it('[RFC7662-INTROSPECT] [HARD-INTROSPECT-AUTHZ] describes another client\'s active access token to a resource server', async () => {
    const t = await login(s, client, user);
    const r = await introspect(rs, { token: String(t.access_token) });
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    const iat = Math.floor(clock.now() / 1000);
    expect(r.body).toEqual({
      active: true, scope: 'db:read db:write', client_id: client.id, sub: user.id, aud: RESOURCE, iss: s.url,
      exp: iat + 600, iat, jti: jtiOf(t.access_token), token_type: 'access_token', role: 'developer',
    });
  });

  it('[RFC7662-INTROSPECT] describes a refresh token to the client it was issued to, and to no one else', async () => {
    const t = await login(s, rs, user);
    const r = await introspect(rs, { token: String(t.refresh_token), token_type_hint: 'refresh_token' });
    expect(r.body).toMatchObject({ active: true, scope: 'db:read db:write', client_id: rs.id, sub: user.id, token_type: 'refresh_token' });
    expect(r.body.exp).toBe(Math.floor((clock.now() + s.config.refreshTokenTtl * 1000) / 1000));
    const other = await addClient(s, { method: 'client_secret_post' });
    expect((await introspect(other, { token: String(t.refresh_token) })).body).toEqual({ active: false });
  });

  it('[RFC7662-INTROSPECT] reports unknown, revoked, rotated and expired tokens as inactive', async () => {
    expect((await introspect(rs, { token: 'nope' })).body).toEqual({ active: false });
    const t = await login(s, rs, user);
    await postForm(`${s.url}/revoke`, { token: String(t.access_token) }, { authorization: basicHeader(rs.id, rs.secret!) });
    expect((await introspect(rs, { token: String(t.access_token) })).body).toEqual({ active: false });
    const next = await refresh(s, rs, String(t.refresh_token));
    expect((await introspect(rs, { token: String(t.refresh_token) })).body).toEqual({ active: false });
    clock.advance(601_000);
    expect((await introspect(rs, { token: String(next.body.access_token) })).body).toEqual({ active: false });
  });

  it('[RFC7662-INTROSPECT] refuses public clients, missing and wrong credentials with 401 invalid_client', async () => {
    const t = await login(s, client, user);
    const pub = await introspect(client, { token: String(t.access_token) });
    expect(pub.status).toBe(401);
    expect(pub.body.error).toBe('invalid_client');
    const none = await postForm(`${s.url}/introspect`, { token: String(t.access_token) });
    expect(none.status).toBe(401);
    const wrong = await postForm(`${s.url}/introspect`, { token: String(t.access_token) }, { authorization: basicHeader(rs.id, 'wrong') });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic /);
  });

  /** A confidential client registered the way anyone can: POST /register (RFC 7591). */
  async function selfRegistered(): Promise<TestClient> {
    const res = await postJson(`${s.url}/register`, { redirect_uris: ['https://app.example/cb'], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'client_secret_basic' });
    expect(res.status).toBe(201);
    return { id: String(res.body.client_id), secret: String(res.body.client_secret), method: 'client_secret_basic' };
  }

  it('[HARD-INTROSPECT-AUTHZ] a self-registered confidential client learns nothing about another client\'s tokens', async () => {
    const other = await addClient(s, { method: 'client_secret_post' });
    const theirs = await login(s, other, user);
    const spy = await selfRegistered();
    for (const token of [theirs.access_token, theirs.refresh_token]) {
      for (const hint of [{}, { token_type_hint: 'refresh_token' }, { token_type_hint: 'access_token' }] as Record<string, string>[]) {
        const r = await introspect(spy, { token: String(token), ...hint });
        expect(r.status).toBe(200);
        expect(r.body).toEqual({ active: false });
      }
    }
    // The owner and a resource server still see them.
    expect((await introspect(other, { token: String(theirs.access_token) })).body).toMatchObject({ active: true, client_id: other.id, sub: user.id });
    expect((await introspect(rs, { token: String(theirs.refresh_token) })).body).toMatchObject({ active: true, client_id: other.id, token_type: 'refresh_token' });
  });

  it('[HARD-INTROSPECT-AUTHZ] a client introspects its own access and refresh tokens', async () => {
    const own = await addClient(s, { method: 'client_secret_basic' });
    const t = await login(s, own, user);
    expect((await introspect(own, { token: String(t.access_token) })).body).toMatchObject({ active: true, client_id: own.id, token_type: 'access_token' });
    expect((await introspect(own, { token: String(t.refresh_token) })).body).toMatchObject({ active: true, client_id: own.id, token_type: 'refresh_token' });
  });

  it('[HARD-INTROSPECT-AUTHZ] only an operator makes a client a resource server, and can take it back', async () => {
    const t = await login(s, client, user);
    // Registration cannot ask for it: the member is not client metadata and is dropped.
    const res = await postJson(`${s.url}/register`, { redirect_uris: ['https://rs.example/cb'], token_endpoint_auth_method: 'client_secret_basic', resource_server: true, introspect_any: true });
    const registered: TestClient = { id: String(res.body.client_id), secret: String(res.body.client_secret), method: 'client_secret_basic' };
    expect((await introspect(registered, { token: String(t.access_token) })).body).toEqual({ active: false });
    await setResourceServer(s.app.ctx.store, registered.id, true);
    expect((await introspect(registered, { token: String(t.access_token) })).body).toMatchObject({ active: true, client_id: client.id });
    await setResourceServer(s.app.ctx.store, registered.id, false);
    expect((await introspect(registered, { token: String(t.access_token) })).body).toEqual({ active: false });
    // A public client cannot be one: it could not authenticate at the endpoint anyway.
    await expect(setResourceServer(s.app.ctx.store, client.id, true)).rejects.toThrow('the client is public');
  });

  it('[OAUTH21-ERROR-RESPONSE] names a missing token parameter', async () => {
    const r = await introspect(rs, {});
    expect(r.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'token'" });
  });
});
