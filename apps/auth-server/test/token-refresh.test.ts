import { describe, expect, it } from 'vitest';
import { tokenHash } from '@stack/crypto';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  addClient, addUser, concurrently, jtiOf, login, refresh, revokedJtis, useTokenServer, type TestClient,
} from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';

describe('token endpoint: refresh_token grant', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t), { REFRESH_GRACE_SECONDS: '30' });

  /** Logs in, rotates the first refresh token, lets `ms` pass and presents the first token again. */
  const reuseAfter = async (ms: number) => {
    const first = await login(s, client, user);
    const rotated = await refresh(s, client, String(first.refresh_token));
    clock.advance(ms);
    return { first, rotated, reuse: await refresh(s, client, String(first.refresh_token)) };
  };

  const rowOf = (token: unknown) => s.app.ctx.store.tokens.findRefreshByHash(tokenHash(String(token)));

  it('[MCP-AS-REFRESH-ROTATE] rotates the refresh token on every use and stores only hashes', async () => {
    const first = await login(s, client, user);
    const r = await refresh(s, client, String(first.refresh_token));
    expect(r.status).toBe(200);
    expect(r.headers.get('cache-control')).toBe('no-store');
    expect(r.body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'db:read db:write' });
    expect(r.body.refresh_token).not.toBe(first.refresh_token);
    expect(jtiOf(r.body.access_token)).not.toBe(jtiOf(first.access_token));
    const old = (await rowOf(first.refresh_token))!;
    const next = (await rowOf(r.body.refresh_token))!;
    expect(old.rotatedAt).not.toBeNull();
    expect(old.successorId).toBe(next.id);
    expect(next.familyId).toBe(old.familyId);
    // 32 random bytes, base64url; the database holds no token value.
    expect(String(r.body.refresh_token)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const dump = JSON.stringify(await s.sql('select * from refresh_tokens'));
    expect(dump).not.toContain(String(first.refresh_token));
    expect(dump).not.toContain(String(r.body.refresh_token));
    // The new token works; the chain goes on.
    expect((await refresh(s, client, String(r.body.refresh_token))).status).toBe(200);
    expect(s.auditEvents().some((e) => e.event === 'token.refreshed' && e.client === client.id)).toBe(true);
  });

  it('[OAUTH21-REFRESH-REUSE] gives 8 concurrent refreshes with one token the same new pair, and that pair works', async () => {
    const first = await login(s, client, user);
    const results = await Promise.all(Array.from({ length: 8 }, () => refresh(s, client, String(first.refresh_token))));
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBe(200);
    const pairs = new Set(results.map((r) => `${String(r.body.access_token)} ${String(r.body.refresh_token)} ${String(r.body.scope)}`));
    expect(pairs.size).toBe(1);
    const family = await s.sql<{ revoked_at: number | null }>('select revoked_at from refresh_tokens where family_id = ?', (await rowOf(first.refresh_token))!.familyId);
    expect(family.length).toBe(2);
    expect(family.every((t) => t.revoked_at === null)).toBe(true);
    expect(await revokedJtis(s)).toEqual([]);
    const next = await refresh(s, client, String(results[0]!.body.refresh_token));
    expect(next.status).toBe(200);
  });

  it('[OAUTH21-REFRESH-REUSE] settles 8 refreshes that all read the token before any rotates it on one pair', async () => {
    const first = await login(s, client, user);
    // Every request reads the unrotated token and signs its own candidate pair: exactly one wins the
    // conditional UPDATE, the others must return the winner's pair.
    const { results, signings } = await concurrently(s, 8, () => refresh(s, client, String(first.refresh_token)));
    expect(signings).toBeGreaterThan(1);
    for (const r of results) expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(new Set(results.map((r) => `${String(r.body.access_token)} ${String(r.body.refresh_token)}`)).size).toBe(1);
    // Only the winner's access token was recorded; nothing was revoked.
    const familyId = (await rowOf(first.refresh_token))!.familyId;
    expect((await s.app.ctx.store.tokens.issuedByFamily(familyId)).length).toBe(2);
    expect(await revokedJtis(s)).toEqual([]);
    expect((await refresh(s, client, String(results[0]!.body.refresh_token))).status).toBe(200);
  });

  it('[OAUTH21-REFRESH-REUSE] replays the same pair to a sequential retry within the grace window', async () => {
    const { rotated: a, reuse: b } = await reuseAfter(10_000);
    expect(b.status).toBe(200);
    expect(b.body.access_token).toBe(a.body.access_token);
    expect(b.body.refresh_token).toBe(a.body.refresh_token);
    expect(b.body.expires_in).toBe(590);
  });

  it('[OAUTH21-REFRESH-REUSE] revokes the whole family, successor included, on reuse after the grace window', async () => {
    const { first, rotated: second, reuse } = await reuseAfter(31_000);
    expect(reuse.status).toBe(400);
    expect(reuse.body).toEqual({ error: 'invalid_grant', error_description: 'refresh token has already been used' });
    // The successor (held by whoever rotated first) is dead too, and so are the access tokens.
    const successor = await refresh(s, client, String(second.body.refresh_token));
    expect(successor.body.error).toBe('invalid_grant');
    const revoked = await revokedJtis(s);
    expect(revoked).toEqual(expect.arrayContaining([jtiOf(first.access_token), jtiOf(second.body.access_token)]));
    const ev = s.auditEvents().find((e) => e.event === 'refresh.reuse_detected');
    expect(ev).toMatchObject({ client: client.id, user: user.id, decision: 'deny' });
    expect(JSON.stringify(ev)).not.toContain(String(first.refresh_token));
    // The sealed successor is gone with the family.
    expect((await rowOf(first.refresh_token))!.successorSealed).toBeNull();
  });

  it('[OAUTH21-REFRESH-REUSE] treats a retry as reuse once the successor itself has been used', async () => {
    const first = await login(s, client, user);
    const second = await refresh(s, client, String(first.refresh_token));
    const third = await refresh(s, client, String(second.body.refresh_token));
    expect(third.status).toBe(200);
    // The seal for the first token went as soon as its successor was used.
    expect((await rowOf(first.refresh_token))!.successorSealed).toBeNull();
    const replay = await refresh(s, client, String(first.refresh_token));
    expect(replay.body.error).toBe('invalid_grant');
    expect((await refresh(s, client, String(third.body.refresh_token))).body.error).toBe('invalid_grant');
  });

  it('never replays within the grace window when REFRESH_GRACE_SECONDS=0', async () => {
    await using strict = await startAuthServer({ REFRESH_GRACE_SECONDS: '0' }, { now: clock.now });
    const c = await addClient(strict);
    const u = await addUser(strict);
    const first = await login(strict, c, u);
    await refresh(strict, c, String(first.refresh_token));
    clock.advance(1);
    expect((await refresh(strict, c, String(first.refresh_token))).body.error).toBe('invalid_grant');
  });

  it('[OAUTH21-REFRESH-BOUND] refuses a refresh token presented by another client, without harming it', async () => {
    const first = await login(s, client, user);
    const other = await addClient(s);
    const r = await refresh(s, other, String(first.refresh_token));
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ error: 'invalid_grant', error_description: 'refresh token is invalid' });
    expect((await refresh(s, client, String(first.refresh_token))).status).toBe(200);
  });

  it('[OAUTH21-REFRESH-SCOPE] narrows the scope on request, never widens it, and keeps the grant scope for later refreshes', async () => {
    const first = await login(s, client, user, 'db:read db:write');
    const narrow = await refresh(s, client, String(first.refresh_token), { scope: 'db:read' });
    expect(narrow.status).toBe(200);
    expect(narrow.body.scope).toBe('db:read');
    const wide = await refresh(s, client, String(narrow.body.refresh_token), { scope: 'db:read db:admin' });
    expect(wide.status).toBe(400);
    expect(wide.body.error).toBe('invalid_scope');
    const full = await refresh(s, client, String(narrow.body.refresh_token));
    expect(full.body.scope).toBe('db:read db:write');
  });

  it('caps the access token at the user role after a downgrade', async () => {
    const first = await login(s, client, user, 'db:read db:write');
    await s.sql("update users set role = 'viewer' where id = ?", user.id);
    const r = await refresh(s, client, String(first.refresh_token));
    expect(r.body.scope).toBe('db:read');
  });

  it('refuses expired, revoked and unknown refresh tokens, and those of disabled users', async () => {
    expect((await refresh(s, client, 'x'.repeat(43))).body.error).toBe('invalid_grant');
    const a = await login(s, client, user);
    await s.sql('update refresh_tokens set revoked_at = ? where id = ?', clock.now(), (await rowOf(a.refresh_token))!.id);
    expect((await refresh(s, client, String(a.refresh_token))).body).toEqual({ error: 'invalid_grant', error_description: 'refresh token has been revoked' });
    const b = await login(s, client, user);
    await s.sql('update users set disabled_at = ? where id = ?', clock.now(), user.id);
    expect((await refresh(s, client, String(b.refresh_token))).body.error).toBe('invalid_grant');
    await s.sql('update users set disabled_at = null where id = ?', user.id);
    clock.advance(s.config.refreshTokenTtl * 1000 + 1);
    expect((await refresh(s, client, String(b.refresh_token))).body).toEqual({ error: 'invalid_grant', error_description: 'refresh token has expired' });
  });

  it('[RFC8707-INVALID-TARGET] refuses a resource other than the grant\'s', async () => {
    const first = await login(s, client, user);
    const r = await refresh(s, client, String(first.refresh_token), { resource: 'https://elsewhere.example/mcp' });
    expect(r.status).toBe(400);
    expect(r.body.error).toBe('invalid_target');
  });

  it('forgets sealed successors after the grace window', async () => {
    const { sweepTokens } = await import('../src/services/token-sweeper.ts');
    const first = await login(s, client, user);
    await refresh(s, client, String(first.refresh_token));
    expect((await rowOf(first.refresh_token))!.successorSealed).not.toBeNull();
    await sweepTokens(s.app.ctx);
    expect((await rowOf(first.refresh_token))!.successorSealed).not.toBeNull();
    clock.advance(31_000);
    await sweepTokens(s.app.ctx);
    expect((await rowOf(first.refresh_token))!.successorSealed).toBeNull();
  });
});
