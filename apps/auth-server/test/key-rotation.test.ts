import { beforeEach, describe, expect, it } from 'vitest';
import { decodeProtectedHeader } from 'jose';
import { createJwtVerifier } from '@stack/mcp-auth';
import { createKeyStore, PUBLISH_LEAD_MS } from '../src/services/keys.ts';
import type { TestAuthServer } from './helpers.ts';
import { RESOURCE, login, useTokenServer, type TestClient } from './token-fixtures.ts';
import type { UserRecord } from '../src/services/users.ts';

const kidOf = (token: unknown) => decodeProtectedHeader(String(token)).kid;

describe('signing-key rotation', () => {
  let s: TestAuthServer;
  let client: TestClient;
  let user: UserRecord;
  const { clock } = useTokenServer((t) => ({ s, client, user } = t));
  let jwksFetches: number;
  beforeEach(() => { jwksFetches = 0; });

  const jwksKids = async () => ((await (await fetch(`${s.url}/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid).sort();
  /** An MCP server's verifier on the same clock, counting its JWKS fetches. */
  const verifier = () => createJwtVerifier({
    issuer: s.url, audience: RESOURCE, jwksUrl: `${s.url}/jwks`, now: clock.now,
    fetch: (input, init) => { jwksFetches++; return fetch(input, init); },
  });

  it('[HARD-KEY-PREPUBLISH] publishes the next key at once and signs with it only after the lead time', async () => {
    const first = (await s.app.ctx.keys.active()).kid;
    const { kid: next, signsFrom } = await s.app.ctx.keys.rotate();
    expect(signsFrom).toBe(clock.now() + PUBLISH_LEAD_MS);
    expect(PUBLISH_LEAD_MS).toBeGreaterThanOrEqual(2 * 60_000 - 1); // two /jwks max-age lifetimes
    expect(await jwksKids()).toEqual([first, next].sort());
    expect(Object.fromEntries((await s.app.ctx.keys.list()).map((k) => [k.kid, k.state]))).toEqual({ [first]: 'current', [next]: 'next' });
    expect(kidOf((await login(s, client, user)).access_token)).toBe(first);

    clock.advance(PUBLISH_LEAD_MS - 1);
    expect(kidOf((await login(s, client, user)).access_token)).toBe(first);
    clock.advance(1);
    expect(kidOf((await login(s, client, user)).access_token)).toBe(next);
    expect(Object.fromEntries((await s.app.ctx.keys.list()).map((k) => [k.kid, k.state]))).toEqual({ [first]: 'retired', [next]: 'current' });
    // The retired key stays published while tokens it signed may be valid.
    expect(await jwksKids()).toEqual([first, next].sort());
    clock.advance((s.config.accessTokenTtl + 60) * 1000);
    expect(await jwksKids()).toEqual([next]);
  });

  it('[HARD-KEY-PREPUBLISH] a warm verifier accepts every token across a rotation, without waiting for a cooldown', async () => {
    const v = verifier();
    await v.verify(String((await login(s, client, user)).access_token));
    expect(jwksFetches).toBe(1);
    const { kid: next } = await s.app.ctx.keys.rotate();
    for (let step = 0; step < 8; step++) {
      clock.advance(PUBLISH_LEAD_MS / 4); // through the switch and past it
      const token = String((await login(s, client, user)).access_token);
      await expect(v.verify(token), `step ${step}`).resolves.toMatchObject({ subject: user.id });
    }
    expect(kidOf((await login(s, client, user)).access_token)).toBe(next);
    // The background refresh (60 s) had fetched the next key before it signed.
    expect(jwksFetches).toBeGreaterThan(1);
  });

  it('[HARD-KEY-PREPUBLISH] instances sharing the database switch at the same moment without being told', async () => {
    const other = createKeyStore(s.app.ctx.store.signingKeys, s.app.ctx.keks, clock.now, s.config.accessTokenTtl);
    const first = (await other.active()).kid;
    const { kid: next } = await s.app.ctx.keys.rotate();
    clock.advance(10_000); // past both caches' reload interval
    expect((await other.active()).kid).toBe(first);
    expect((await s.app.ctx.keys.active()).kid).toBe(first);
    clock.advance(PUBLISH_LEAD_MS - 10_000);
    expect((await other.active()).kid).toBe(next);
    expect((await s.app.ctx.keys.active()).kid).toBe(next);
  });

  it('[HARD-KEY-PREPUBLISH] a second rotation before the switch queues behind the first', async () => {
    const first = (await s.app.ctx.keys.active()).kid;
    const { kid: second } = await s.app.ctx.keys.rotate();
    clock.advance(30_000);
    const { kid: third, signsFrom } = await s.app.ctx.keys.rotate();
    expect(await jwksKids()).toEqual([first, second, third].sort());
    expect((await s.app.ctx.keys.list()).find((k) => k.kid === third)).toMatchObject({ state: 'next', signsFrom });
    clock.advance(PUBLISH_LEAD_MS - 30_000);
    expect((await s.app.ctx.keys.active()).kid).toBe(second);
    clock.advance(30_000);
    expect((await s.app.ctx.keys.active()).kid).toBe(third);
  });

  it('[HARD-KEY-PREPUBLISH] rotate --now: the new key signs at once and every other key is withdrawn', async () => {
    const v = verifier();
    const old = String((await login(s, client, user)).access_token);
    await v.verify(old);
    const first = kidOf(old);
    const { kid, withdrawn } = await s.app.ctx.keys.rotate({ immediately: true });
    expect(withdrawn).toEqual([first]);
    expect(await jwksKids()).toEqual([kid]);
    const fresh = String((await login(s, client, user)).access_token);
    expect(kidOf(fresh)).toBe(kid);
    clock.advance(1_001); // the verifier's unknown-kid floor
    await expect(v.verify(fresh)).resolves.toMatchObject({ subject: user.id });
    // The refetched set no longer holds the withdrawn key: its tokens are refused.
    await expect(v.verify(old)).rejects.toMatchObject({ code: 'invalid_token', description: 'token signing key is unknown' });
  });
});
