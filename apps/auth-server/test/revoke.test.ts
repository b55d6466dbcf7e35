import { describe, expect, it } from 'vitest';
import type { TestAuthServer } from './helpers.ts';
import {
  addClient, jtiOf, login, postForm, refresh, revokedJtis, useTokenServer, withClientAuth, type TestClient,
} from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';

describe('token revocation (RFC 7009) and the revocation feed', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t));

  const revoke = (c: TestClient, params: Record<string, string>) => {
    const r = withClientAuth(c, params);
    return postForm(`${s.url}/revoke`, r.params, r.headers);
  };

  it('[RFC7009-REVOKE] revokes a refresh token with its whole family and the family\'s access tokens', async () => {
    const first = await login(s, client, user);
    const second = await refresh(s, client, String(first.refresh_token));
    const r = await revoke(client, { token: String(second.body.refresh_token), token_type_hint: 'refresh_token' });
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect((await refresh(s, client, String(second.body.refresh_token))).body.error).toBe('invalid_grant');
    expect(await revokedJtis(s)).toEqual(expect.arrayContaining([jtiOf(first.access_token), jtiOf(second.body.access_token)]));
    const ev = s.auditEvents().find((e) => e.event === 'token.revoked');
    expect(ev).toMatchObject({ kind: 'refresh_token', client: client.id, user: user.id, decision: 'allow' });
    expect(JSON.stringify(ev)).not.toContain(String(second.body.refresh_token));
  });

  it('[RFC7009-REVOKE] revokes an access token by jti, with or without a hint, and lists it in /revocations', async () => {
    const t = await login(s, client, user);
    const r = await revoke(client, { token: String(t.access_token) });
    expect(r.status).toBe(200);
    const feed = await fetch(`${s.url}/revocations?since=0`);
    expect(feed.headers.get('cache-control')).toBe('no-store');
    const body = await feed.json();
    expect(body.revoked).toEqual([{ jti: jtiOf(t.access_token), expiresAt: expect.any(Number) }]);
    expect(body.revoked[0].expiresAt).toBe(Math.floor(clock.now() / 1000) * 1000 + 600_000);
    expect(body.complete).toBe(true);
    // The refresh token is untouched: only the access token was revoked.
    expect((await refresh(s, client, String(t.refresh_token))).status).toBe(200);
    // A wrong hint is only a hint.
    const u = await login(s, client, user);
    expect((await revoke(client, { token: String(u.access_token), token_type_hint: 'refresh_token' })).status).toBe(200);
    expect(await revokedJtis(s)).toContain(jtiOf(u.access_token));
  });

  it('[RFC7009-REVOKE] answers 200 for unknown, malformed and already revoked tokens', async () => {
    for (const token of ['no-such-token', 'a.b.c', 'x'.repeat(4000)]) {
      const r = await revoke(client, { token });
      expect(r.status).toBe(200);
    }
    const t = await login(s, client, user);
    expect((await revoke(client, { token: String(t.refresh_token) })).status).toBe(200);
    expect((await revoke(client, { token: String(t.refresh_token) })).status).toBe(200);
  });

  it('[RFC7009-REVOKE] answers 200 but revokes nothing for a token of another client', async () => {
    const t = await login(s, client, user);
    const other = await addClient(s);
    expect((await revoke(other, { token: String(t.refresh_token) })).status).toBe(200);
    expect((await revoke(other, { token: String(t.access_token) })).status).toBe(200);
    expect(await revokedJtis(s)).toEqual([]);
    expect((await refresh(s, client, String(t.refresh_token))).status).toBe(200);
    expect(s.auditEvents().some((e) => e.event === 'token.revoked' && e.decision === 'deny' && e.client === other.id)).toBe(true);
  });

  it('[RFC7009-REVOKE] authenticates confidential clients as the token endpoint does', async () => {
    const conf = await addClient(s, { method: 'client_secret_basic' });
    const t = await login(s, conf, user);
    const bad = await postForm(`${s.url}/revoke`, { token: String(t.refresh_token), client_id: conf.id });
    expect(bad.status).toBe(401);
    expect(bad.body.error).toBe('invalid_client');
    expect((await refresh(s, conf, String(t.refresh_token))).status).toBe(200);
    expect((await revoke(conf, { token: String(t.access_token) })).status).toBe(200);
    expect(await revokedJtis(s)).toContain(jtiOf(t.access_token));
  });

  it('[OAUTH21-ERROR-RESPONSE] names a missing token parameter and refuses repeated parameters', async () => {
    const r = await revoke(client, {});
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_request', error_description: "missing required parameter 'token'" });
    const dup = await postForm(`${s.url}/revoke`, `client_id=${client.id}&token=a&token=b`);
    expect(dup.body.error).toBe('invalid_request');
  });

  it('lists only unexpired revocations, from `since` on, and refuses a malformed since', async () => {
    const a = await login(s, client, user);
    await revoke(client, { token: String(a.access_token) });
    const cut = clock.now() + 1;
    clock.advance(1000);
    const b = await login(s, client, user);
    await revoke(client, { token: String(b.access_token) });
    const later = await (await fetch(`${s.url}/revocations?since=${cut}`)).json();
    expect(later.revoked.map((r: { jti: string }) => r.jti)).toEqual([jtiOf(b.access_token)]);
    expect(later.next).toBe(clock.now());
    const all = (await (await fetch(`${s.url}/revocations`)).json()).revoked as { jti: string; expiresAt: number }[];
    const aExpires = all.find((r) => r.jti === jtiOf(a.access_token))!.expiresAt;
    clock.advance(aExpires - clock.now() + 1);
    expect(await revokedJtis(s)).toEqual([jtiOf(b.access_token)]);
    for (const since of ['-1', 'abc', '1e3', '99999999999999999999']) {
      const r = await fetch(`${s.url}/revocations?since=${since}`);
      expect(r.status).toBe(400);
      expect((await r.json()).error).toBe('invalid_request');
    }
  });
});
