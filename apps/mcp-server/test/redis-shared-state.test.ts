import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { SHARED_REDIS_URL, eventually, startTestRedis, uniquePrefix, type TestRedis } from '../../../packages/redis/test/redis-server.ts';
import { startAuthServer, type TestAuthServer } from '../../auth-server/test/helpers.ts';
import { seedClient } from '../../auth-server/test/authorize-flow.ts';
import { signAccessToken } from '../../auth-server/src/services/access-tokens.ts';
import { loadMcpConfig } from '../src/config.ts';
import { loadAuthConfig } from '../../auth-server/src/config.ts';
import { bearer, freePort, listTools, rpc, startIssuer, startMcpServer, type TestIssuer, type TestMcpServer } from './helpers.ts';
import { connectRedis } from '@stack/redis';
import { createRedisRevocations } from '../src/shared-state/redis-revocations.ts';

/** Two instances behind one Redis, as behind a load balancer: the same public URL (token audience), two ports. */
async function twoInstances(env: Record<string, string>): Promise<[TestMcpServer, TestMcpServer]> {
  const [pa, pb] = [await freePort(), await freePort()];
  const publicUrl = `http://127.0.0.1:${pa}/mcp`;
  const a = await startMcpServer({ ...env, MCP_PORT: String(pa), MCP_PUBLIC_URL: publicUrl });
  const b = await startMcpServer({ ...env, MCP_PORT: String(pb), MCP_PUBLIC_URL: publicUrl });
  return [a, b];
}

const endpoint = (s: TestMcpServer) => `${s.base}/mcp`;

describe('two MCP-server instances sharing Redis', () => {
  let issuer: TestIssuer;
  let a: TestMcpServer;
  let b: TestMcpServer;
  const SYNC_MS = 1000;
  // The advertised delay: a revocation reaches every instance within 2 × REDIS_REVOCATION_SYNC_MS.
  const ADVERTISED_DELAY_MS = 2 * SYNC_MS;
  let started = 0;

  beforeAll(async () => {
    issuer = await startIssuer();
    started = Date.now();
    [a, b] = await twoInstances({
      AUTH_ISSUER: issuer.url,
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('mcp'),
      REDIS_REVOCATION_SYNC_MS: String(SYNC_MS),
      REVOCATION_POLL_SECONDS: '30',
      RATE_LIMIT_PER_MINUTE: '10',
    });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await issuer?.close();
  });

  it('[SCALE-REDIS-RATE-LIMIT] a limit of N per minute admits exactly N calls in total across both instances', async () => {
    const token = bearer(await issuer.sign({ aud: a.config.publicUrl, sub: `rl-${randomUUID()}` }));
    const statuses: number[] = [];
    // Alternate between the instances, then fire the rest at both at once.
    for (let i = 0; i < 6; i++) statuses.push((await rpc(endpoint(i % 2 ? b : a), listTools(), token)).status);
    const burst = await Promise.all(Array.from({ length: 14 }, (_, i) => rpc(endpoint(i % 2 ? a : b), listTools(), token)));
    statuses.push(...burst.map((r) => r.status));
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
    const limited = burst.find((r) => r.status === 429)!;
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Both instances counted into one budget: each refused some once it was spent.
    expect([a, b].map((s) => s.audit().some((e) => e.decision === 'RATE_LIMITED'))).toEqual([true, true]);
  });

  it(`[SCALE-REDIS-REVOCATION] a token revoked at the issuer is refused by both instances within the advertised delay (${ADVERTISED_DELAY_MS} ms)`, async () => {
    const jti = randomUUID();
    const token = bearer(await issuer.sign({ aud: a.config.publicUrl, sub: `rv-${randomUUID()}`, jti }));
    // Accepted (and cached as verified) by both first.
    for (const s of [a, b, a, b]) expect((await rpc(endpoint(s), listTools(), token)).status).toBe(200);
    issuer.revoked.push({ jti, expiresAt: Date.now() + 300_000 });
    const revokedAt = Date.now();
    const refusedAfter = await Promise.all([a, b].map(async (s) => {
      const ok = await eventually(async () => (await rpc(endpoint(s), listTools(), token)).status === 401, ADVERTISED_DELAY_MS + 1000);
      expect(ok).toBe(true);
      return Date.now() - revokedAt;
    }));
    for (const ms of refusedAfter) expect(ms).toBeLessThanOrEqual(ADVERTISED_DELAY_MS);
    const res = await rpc(endpoint(b), listTools(), token);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expect(await res.json()).toMatchObject({ error: 'invalid_token', error_description: 'token has been revoked' });
    // One instance at a time reads the feed (a lease in Redis), so the issuer is not polled N times per interval.
    const feedReads = issuer.seen.filter((r) => r.url.startsWith('/revocations')).length;
    expect(feedReads).toBeLessThanOrEqual(Math.floor((Date.now() - started) / SYNC_MS) + 1);
  });
});

describe('two MCP-server instances sharing Redis, with the real authorization server', () => {
  let as: TestAuthServer;
  let a: TestMcpServer;
  let b: TestMcpServer;
  const SYNC_MS = 500;
  const ADVERTISED_DELAY_MS = 2 * SYNC_MS;

  beforeAll(async () => {
    const port = await freePort();
    as = await startAuthServer({ MCP_PUBLIC_ORIGIN: `http://127.0.0.1:${port}` });
    const b0 = await freePort();
    const env = {
      AUTH_ISSUER: as.url, REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: uniquePrefix('mcp-as'),
      REDIS_REVOCATION_SYNC_MS: String(SYNC_MS), REVOCATION_POLL_SECONDS: '30', MCP_PUBLIC_URL: `http://127.0.0.1:${port}/mcp`,
    };
    a = await startMcpServer({ ...env, MCP_PORT: String(port) });
    b = await startMcpServer({ ...env, MCP_PORT: String(b0) });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await as?.close();
  });

  it(`[SCALE-REDIS-REVOCATION] [RFC7009-REVOKE] an access token revoked at the authorization server's /revoke is refused by both within ${ADVERTISED_DELAY_MS} ms`, async () => {
    const client = await seedClient(as);
    const { token } = await signAccessToken(as.app.ctx, { sub: 'revoked-user', clientId: client.id, scope: 'db:read', resource: a.config.publicUrl, role: 'viewer' });
    for (const s of [a, b]) expect((await rpc(endpoint(s), listTools(), bearer(token))).status).toBe(200);
    const revoke = await fetch(`${as.url}/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ client_id: client.id, token, token_type_hint: 'access_token' }).toString(),
    });
    expect(revoke.status).toBe(200);
    const revokedAt = Date.now();
    const refusedAfter = await Promise.all([a, b].map(async (s) => {
      expect(await eventually(async () => (await rpc(endpoint(s), listTools(), bearer(token))).status === 401, ADVERTISED_DELAY_MS + 1000)).toBe(true);
      return Date.now() - revokedAt;
    }));
    for (const ms of refusedAfter) expect(ms).toBeLessThanOrEqual(ADVERTISED_DELAY_MS);
  });

  it('[SCALE-REDIS-REVOCATION] copies a revocation committed after a sync with an earlier revokedAt than one already copied', async () => {
    const redis = connectRedis({ url: SHARED_REDIS_URL, keyPrefix: uniquePrefix('rev-order'), log: { error: () => {}, info: () => {} } });
    const list = createRedisRevocations({ redis, feedUrl: `${as.url}/revocations`, syncMs: 50, log: { error: () => {}, info: () => {} } });
    const [early, late] = [randomUUID(), randomUUID()];
    try {
      await redis.waitUntilReady(2_000);
      const t = Date.now();
      await as.app.ctx.store.tokens.revokeAccessToken(late, t + 600_000, t);
      expect(await list.sync()).toBe(true);
      expect(await list.isRevoked(late)).toBe(true);
      // Took its timestamp 50 ms earlier (a slower transaction, another instance's or the CLI's clock) and commits now.
      await as.app.ctx.store.tokens.revokeAccessToken(early, t + 600_000, t - 50);
      await new Promise((r) => setTimeout(r, 80)); // the sync lease (80 % of syncMs) runs out
      expect(await list.sync()).toBe(true);
      expect(await list.isRevoked(early)).toBe(true);
    } finally {
      await list.stop();
      await redis.close();
    }
  });
});

describe('when Redis goes away', () => {
  let issuer: TestIssuer;
  let redis: TestRedis;
  let s: TestMcpServer;
  const log: string[] = [];

  beforeAll(async () => {
    issuer = await startIssuer();
    redis = await startTestRedis();
    s = await startMcpServer(
      { AUTH_ISSUER: issuer.url, REDIS_URL: redis.url, REDIS_KEY_PREFIX: uniquePrefix('outage'), REVOCATION_POLL_SECONDS: '30' },
      { logger: { level: 'info', stream: { write: (line: string) => void log.push(line) } } },
    );
  });
  afterAll(async () => {
    await s?.close();
    await redis?.close();
    await issuer?.close();
  });

  it('[SCALE-FAIL-CLOSED] answers 503 with Retry-After (never a silent allow), logs the outage once, and recovers when Redis returns', async () => {
    const token = bearer(await issuer.sign({ aud: s.url, sub: 'outage-user' }));
    expect((await rpc(s.url, listTools(), token)).status).toBe(200);
    expect((await fetch(`${s.base}/ready`)).status).toBe(200);

    await redis.stop();
    for (let i = 0; i < 10; i++) {
      const res = await rpc(s.url, listTools(), token);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'a shared store is unavailable, retry later' });
    }
    const ready = await fetch(`${s.base}/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('retry-after')).toBe('5');
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ERROR' });
    const outageLines = log.filter((l) => l.includes('redis unavailable'));
    expect(outageLines).toHaveLength(1);
    expect(JSON.parse(outageLines[0]!)).toMatchObject({ level: 50 });
    expect(outageLines[0]).not.toContain(redis.url);

    await redis.start();
    expect(await eventually(async () => (await rpc(s.url, listTools(), token)).status === 200, 8000)).toBe(true);
    expect((await fetch(`${s.base}/ready`)).status).toBe(200);
    expect(log.some((l) => l.includes('redis connection restored'))).toBe(true);
  });
});

describe('Redis settings', () => {
  it('REDIS_URL is optional (memory stores), must be redis:// or rediss://, and is never echoed in the error', () => {
    expect(loadMcpConfig({}).redis).toBeUndefined();
    expect(loadMcpConfig({ REDIS_URL: '' }).redis).toBeUndefined();
    expect(loadMcpConfig({ REDIS_URL: 'rediss://:pw@cache:6380/2' }).redis).toEqual({ url: 'rediss://:pw@cache:6380/2', keyPrefix: 'mcp-oauth:', revocationSyncMs: 1000 });
    expect(loadAuthConfig({ REDIS_URL: 'redis://cache:6379', REDIS_KEY_PREFIX: 'prod:' }).redis).toEqual({ url: 'redis://cache:6379', keyPrefix: 'prod:' });
    for (const load of [loadMcpConfig, loadAuthConfig]) {
      expect(() => load({ REDIS_URL: 'http://:topsecret@cache:6379' })).toThrow(/REDIS_URL.*redis:\/\/ or rediss:\/\//);
      expect(() => load({ REDIS_URL: 'http://:topsecret@cache:6379' })).not.toThrow(/topsecret/);
      expect(() => load({ REDIS_KEY_PREFIX: 'has space' })).toThrow(/REDIS_KEY_PREFIX/);
    }
    expect(() => loadMcpConfig({ REDIS_REVOCATION_SYNC_MS: '10' })).toThrow(/REDIS_REVOCATION_SYNC_MS/);
  });
});
