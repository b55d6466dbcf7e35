import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { OAuthError } from '@stack/oauth';
import { connectRedis, createLogThrottle, redisLimiters, type SharedRedis } from '../src/index.ts';
import { SHARED_REDIS_URL, eventually, startTestRedis, uniquePrefix, type TestRedis } from './redis-server.ts';

const quiet = { error: () => {}, info: () => {} };

describe('createLogThrottle', () => {
  it('is due once per interval per key, and again at once after reset', () => {
    let t = 0;
    const th = createLogThrottle(1000, () => t);
    expect([th.due('a'), th.due('a'), th.due('b')]).toEqual([true, false, true]);
    t = 999;
    expect(th.due('a')).toBe(false);
    t = 1000;
    expect(th.due('a')).toBe(true);
    th.reset('a');
    expect(th.due('a')).toBe(true);
  });
});

describe('redisLimiters on the shared Redis', () => {
  let redis: SharedRedis;
  beforeAll(async () => {
    redis = connectRedis({ url: SHARED_REDIS_URL, keyPrefix: uniquePrefix('limiter'), log: quiet });
    expect(await redis.waitUntilReady(3000)).toBe(true);
  });
  afterAll(async () => redis?.close());

  it('[SCALE-REDIS-RATE-LIMIT] two limiters on one Redis share one count: exactly `points` consumes succeed', async () => {
    const make = redisLimiters(redis);
    const a = make({ keyPrefix: 'shared', points: 7, duration: 60 });
    const b = make({ keyPrefix: 'shared', points: 7, duration: 60 });
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).consume('k')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(7);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected.every((r) => r.reason instanceof RateLimiterRes)).toBe(true);
  });
});

describe('connectRedis against a server that goes away and comes back', () => {
  let server: TestRedis;
  let redis: SharedRedis;
  const lines: string[] = [];
  beforeAll(async () => {
    server = await startTestRedis();
    redis = connectRedis({ url: server.url, keyPrefix: uniquePrefix('outage'), log: { error: (m) => lines.push(`error ${m}`), info: (m) => lines.push(`info ${m}`) } });
    expect(await redis.waitUntilReady(3000)).toBe(true);
  });
  afterAll(async () => {
    await redis?.close();
    await server?.close();
  });

  it('[SCALE-FAIL-CLOSED] fails closed with 503 + Retry-After while down, logs once, and recovers by itself', async () => {
    const limiter = redisLimiters(redis)({ keyPrefix: 'x', points: 100, duration: 60 });
    await limiter.consume('k');
    await server.stop();
    expect(await eventually(() => !redis.isReady())).toBe(true);
    const errors = await Promise.allSettled(Array.from({ length: 25 }, () => limiter.consume('k')));
    for (const e of errors) {
      expect(e.status).toBe('rejected');
      const reason = (e as PromiseRejectedResult).reason as OAuthError;
      expect(reason).toBeInstanceOf(OAuthError);
      expect([reason.status, reason.code, reason.retryAfter]).toEqual([503, 'temporarily_unavailable', 5]);
      expect(reason.toJSON()).toEqual({ error: 'temporarily_unavailable', error_description: 'a shared store is unavailable, retry later' });
    }
    // 25 refused requests and several reconnect attempts: one log line for the outage.
    expect(lines.filter((l) => l.startsWith('error'))).toHaveLength(1);
    expect(lines[0]).not.toContain(server.url);

    await server.start();
    expect(await eventually(() => redis.isReady(), 8000)).toBe(true);
    expect(lines.at(-1)).toBe('info redis connection restored');
    await expect(limiter.consume('k')).resolves.toBeInstanceOf(RateLimiterRes);
  });
});
