import { describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  REDIRECT_URI, RESOURCE, addClient, addUser, issueCode, jtiOf, redeem, refresh, concurrently, revokedJtis, tokenRequest, useTokenServer, type TestClient,
} from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';

const jwtAudience = (t: unknown) => decodeJwt(String(t)).aud;

describe('token endpoint: authorization_code grant', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t));

  it('[RFC9068-JWT-AT] [MCP-AS-RESOURCE-AUDIENCE] [RFC9700-AUDIENCE] [MCP-AS-SHORT-LIVED] [OAUTH21-NO-STORE] issues an at+jwt for the resource, 600 s by default, not cacheable', async () => {
    const r = await redeem(s, client, await issueCode(s, client, user));
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.headers.get('pragma')).toBe('no-cache');
    expect(r.body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'db:read db:write' });
    expect(typeof r.body.refresh_token).toBe('string');

    const jwks = createLocalJWKSet(await (await fetch(`${s.url}/jwks`)).json());
    const at = String(r.body.access_token);
    const { payload, protectedHeader } = await jwtVerify(at, jwks, {
      issuer: s.url, audience: RESOURCE, typ: 'at+jwt', currentDate: new Date(clock.now()),
    });
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'at+jwt' });
    expect(protectedHeader.kid).toBe((await s.app.ctx.keys.active()).kid);
    expect(payload).toMatchObject({ iss: s.url, sub: user.id, aud: RESOURCE, client_id: client.id, scope: 'db:read db:write', role: 'developer' });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(typeof payload.jti).toBe('string');
    // The token is recorded by jti so that it can be revoked with its family.
    const [issued] = await s.sql('select * from issued_access_tokens where jti = ?', payload.jti!);
    expect(issued).toMatchObject({ client_id: client.id, user_id: user.id });
  });

  it('[MCP-AS-SHORT-LIVED] honours ACCESS_TOKEN_TTL_SECONDS', async () => {
    await using short = await startAuthServer({ ACCESS_TOKEN_TTL_SECONDS: '120' });
    const c = await addClient(short);
    const u = await addUser(short);
    const r = await redeem(short, c, await issueCode(short, c, u));
    expect(r.body.expires_in).toBe(120);
    const h = decodeProtectedHeader(String(r.body.access_token));
    expect(h.typ).toBe('at+jwt');
  });

  it('caps the token scope at what the user role allows', async () => {
    const viewer = await addUser(s, 'viewer');
    const r = await redeem(s, client, await issueCode(s, client, viewer, { scope: 'db:read db:write' }));
    expect(r.status).toBe(200);
    expect(r.body.scope).toBe('db:read');
  });

  it('issues no refresh token to a client that may not use the refresh_token grant', async () => {
    const noRefresh = await addClient(s, { grantTypes: ['authorization_code'] });
    const r = await redeem(s, noRefresh, await issueCode(s, noRefresh, user));
    expect(r.status).toBe(200);
    expect(r.body.refresh_token).toBeUndefined();
  });

  it('writes token.issued to the audit log without any token value', async () => {
    const r = await redeem(s, client, await issueCode(s, client, user));
    const ev = s.auditEvents().find((e) => e.event === 'token.issued');
    expect(ev).toMatchObject({ user: user.id, client: client.id, decision: 'allow', resource: RESOURCE });
    const line = JSON.stringify(s.auditEvents());
    expect(line).not.toContain(String(r.body.access_token));
    expect(line).not.toContain(String(r.body.refresh_token));
  });

  it('[OAUTH21-CODE-SINGLE-USE] refuses a second use of a code and revokes every token issued from it', async () => {
    const c = await issueCode(s, client, user);
    const first = await redeem(s, client, c);
    expect(first.status).toBe(200);
    const second = await redeem(s, client, c);
    expect(second.status).toBe(400);
    expect(second.body).toEqual({ error: 'invalid_grant', error_description: 'authorization code has already been used' });
    // The refresh family and the access token from the first redemption are dead.
    expect((await refresh(s, client, String(first.body.refresh_token))).body.error).toBe('invalid_grant');
    expect(await revokedJtis(s)).toContain(jtiOf(first.body.access_token));
    expect(s.auditEvents().some((e) => e.event === 'code.reuse_detected' && e.decision === 'deny')).toBe(true);
  });

  it('[OAUTH21-CODE-SINGLE-USE] revokes the access token of a code reused by a client without refresh tokens', async () => {
    const noRefresh = await addClient(s, { grantTypes: ['authorization_code'] });
    const c = await issueCode(s, noRefresh, user);
    const first = await redeem(s, noRefresh, c);
    await redeem(s, noRefresh, c);
    expect(await revokedJtis(s)).toContain(jtiOf(first.body.access_token));
  });

  it('[OAUTH21-CODE-SINGLE-USE] redeems a code exactly once under concurrent requests, and then revokes the result', async () => {
    const c = await issueCode(s, client, user);
    // Every request passes the checks before any consumes the code: only the conditional UPDATE decides.
    const { results, signings } = await concurrently(s, 6, () => redeem(s, client, c));
    expect(signings).toBeGreaterThan(1);
    const ok = results.filter((r) => r.status === 200);
    expect(ok.length).toBe(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.body.error).toBe('invalid_grant');
    // The other attempts were reuse: what the winner got is revoked.
    expect((await refresh(s, client, String(ok[0]!.body.refresh_token))).body.error).toBe('invalid_grant');
    expect(await revokedJtis(s)).toContain(jtiOf(ok[0]!.body.access_token));
  });

  it('[OAUTH21-CODE-BOUND] refuses a code issued to another client', async () => {
    const other = await addClient(s);
    const r = await redeem(s, other, await issueCode(s, client, user));
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_grant');
  });

  it('[OAUTH21-CODE-BOUND] refuses a redirect_uri that differs from the authorization request, even slightly', async () => {
    const c = await issueCode(s, client, user);
    for (const uri of [`${REDIRECT_URI}/`, REDIRECT_URI.replace('7777', '7778'), `${REDIRECT_URI}?x=1`]) {
      const r = await redeem(s, client, c, { redirect_uri: uri });
      expect(r.status).toBe(400);
      expect(r.body).toEqual({ error: 'invalid_grant', error_description: "'redirect_uri' does not match the authorization request" });
    }
    const missing = await redeem(s, client, c, { redirect_uri: '' });
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'redirect_uri'" });
    // Failed attempts do not burn the code for its rightful client.
    expect((await redeem(s, client, c)).status).toBe(200);
  });

  it('[OAUTH21-PKCE-VERIFY] refuses a wrong or missing code_verifier', async () => {
    const c = await issueCode(s, client, user);
    const wrong = await redeem(s, client, c, { code_verifier: 'a'.repeat(43) });
    expect(wrong.status).toBe(400);
    expect(wrong.body).toEqual({ error: 'invalid_grant', error_description: "'code_verifier' does not match the code challenge" });
    const missing = await redeem(s, client, c, { code_verifier: '' });
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'code_verifier'" });
    const short = await redeem(s, client, c, { code_verifier: 'abc' });
    expect(short.body.error).toBe('invalid_request');
  });

  it('[OAUTH21-CODE-LIFETIME] refuses a code older than 60 s', async () => {
    const c = await issueCode(s, client, user);
    clock.advance(61_000);
    const r = await redeem(s, client, c);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_grant', error_description: 'authorization code has expired' });
  });

  it('[RFC8707-INVALID-TARGET] refuses a resource other than the one the code was issued for', async () => {
    const c = await issueCode(s, client, user);
    const r = await redeem(s, client, c, { resource: 'http://127.0.0.1:4999/other' });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_target');
    // Omitting resource falls back to the resource the code is bound to.
    const ok = await tokenRequest(s, client, { grant_type: 'authorization_code', code: c.code, redirect_uri: REDIRECT_URI, code_verifier: c.verifier });
    expect(ok.status).toBe(200);
    expect(jwtAudience(ok.body.access_token)).toBe(RESOURCE);
  });

  it('[MCP-AS-RESOURCE-CANONICAL] [RFC8707-INVALID-TARGET] accepts the resource with an uppercase scheme or host and a trailing slash, at both grants', async () => {
    const c = await issueCode(s, client, user);
    const r = await redeem(s, client, c, { resource: 'HTTP://127.0.0.1:4999/mcp/' });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(jwtAudience(r.body.access_token)).toBe(RESOURCE);
    const again = await refresh(s, client, String(r.body.refresh_token), { resource: 'Http://127.0.0.1:4999/mcp' });
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    expect(jwtAudience(again.body.access_token)).toBe(RESOURCE);
    // The path stays case-sensitive: another path is another resource.
    const other = await refresh(s, client, String(again.body.refresh_token), { resource: 'http://127.0.0.1:4999/MCP' });
    expect(other.body.error).toBe('invalid_target');
  });

  it('refuses an unknown code and a code of a disabled user', async () => {
    const unknown = await redeem(s, client, { code: 'x'.repeat(43), verifier: 'a'.repeat(43) });
    expect(unknown.body).toEqual({ error: 'invalid_grant', error_description: 'authorization code is invalid' });
    const c = await issueCode(s, client, user);
    await s.sql('update users set disabled_at = ? where id = ?', clock.now(), user.id);
    const r = await redeem(s, client, c);
    expect(r.body).toEqual({ error: 'invalid_grant', error_description: 'the user account is disabled' });
  });

  it('[OAUTH21-ERROR-RESPONSE] names the missing code parameter', async () => {
    const r = await redeem(s, client, { code: '', verifier: 'a'.repeat(43) });
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'code'" });
    expect(r.headers.get('cache-control')).toBe('no-store');
  });
});
