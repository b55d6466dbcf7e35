import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  RESOURCE, addClient, addUser, basicHeader, jtiOf, login, postForm, refresh, testClock, withClientAuth, type TestClient,
} from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';

describe('token introspection (RFC 7662)', () => {
  let s: TestAuthServer;
  let rs: TestClient;
  let client: TestClient;
  let user: UserRecord;
  const clock = testClock();
  beforeEach(async () => {
    s = await startAuthServer({}, { now: clock.now });
    rs = await addClient(s, { method: 'client_secret_basic' });
    client = await addClient(s);
    user = await addUser(s, 'developer');
  });
  afterEach(async () => { await s.close(); });

  const introspect = (c: TestClient, params: Record<string, string>) => {
    const r = withClientAuth(c, params);
    return postForm(`${s.url}/introspect`, r.params, r.headers);
  };

  it('[RFC7662-INTROSPECT] describes an active access token to an authenticated confidential client', async () => {
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

  it('[OAUTH21-ERROR-RESPONSE] names a missing token parameter', async () => {
    const r = await introspect(rs, {});
    expect(r.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'token'" });
  });
});
