import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { connectRedis, consumeOr429, createLogThrottle, memoryLimiters, redisJtiStore, redisLimiters, StoreUnavailableError, tryConsume, type SharedRedis } from '../src/index.ts';
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

describe('consumeOr429 and tryConsume', () => {
  it('[SCALE-REDIS-ABUSE-LIMITS] take a point, refuse a used-up budget with whole seconds to wait, and let store failures through', async () => {
    const limiter = memoryLimiters({ keyPrefix: 'c', points: 1, duration: 60 });
    expect((await consumeOr429(limiter, 'k', () => new Error('unused'))).consumedPoints).toBe(1);
    // Whole seconds, at least 1, at most the window: what a Retry-After header carries.
    const inWindow = (s: unknown) => Number.isInteger(s) && (s as number) >= 1 && (s as number) <= 60;
    const refused = (await consumeOr429(limiter, 'k', (s) => Object.assign(new Error('refused'), { s })).catch((e: unknown) => e)) as Error & { s: number };
    expect([refused.message, inWindow(refused.s)]).toEqual(['refused', true]);
    expect(inWindow(await tryConsume(limiter, 'k'))).toBe(true);
    const down = { consume: () => Promise.reject(new StoreUnavailableError(5)) } as unknown as Parameters<typeof tryConsume>[0];
    await expect(consumeOr429(down, 'k', () => new Error('unused'))).rejects.toBeInstanceOf(StoreUnavailableError);
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

describe('redisJtiStore', () => {
  it('[RFC7523-JTI-REPLAY] instances sharing Redis accept a jti once (SET NX PX), until it expires; an unreachable Redis fails closed', async () => {
    const prefix = uniquePrefix('jti');
    const one = connectRedis({ url: SHARED_REDIS_URL, keyPrefix: prefix, log: quiet });
    const two = connectRedis({ url: SHARED_REDIS_URL, keyPrefix: prefix, log: quiet });
    try {
      expect(await one.waitUntilReady(3000) && await two.waitUntilReady(3000)).toBe(true);
      const stores = [redisJtiStore(one, 'assertion-jti'), redisJtiStore(two, 'assertion-jti')];
      const exp = Date.now() + 60_000;
      const results = await Promise.all(Array.from({ length: 10 }, (_, i) => stores[i % 2]!.remember('client\u0000jti-1', exp)));
      expect(results.filter(Boolean)).toHaveLength(1);
      expect(await stores[1]!.remember('client\u0000jti-2', exp)).toBe(true);
      // Already expired: nothing to remember (the verifiers refuse it on exp anyway).
      expect(await stores[0]!.remember('client\u0000jti-3', Date.now() - 1)).toBe(true);
      expect(await stores[0]!.remember('client\u0000jti-4', Date.now() + 1000)).toBe(true);
      expect(await stores[1]!.remember('client\u0000jti-4', Date.now() + 60_000)).toBe(false);
      expect(await eventually(() => stores[1]!.remember('client\u0000jti-4', Date.now() + 60_000))).toBe(true);
    } finally {
      await one.close();
      await two.close();
    }
    const down = connectRedis({ url: 'redis://127.0.0.1:1', keyPrefix: prefix, log: quiet });
    try {
      await expect(redisJtiStore(down, 'assertion-jti').remember('k', Date.now() + 60_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await down.close();
    }
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

  // The HTTP answer to StoreUnavailableError (503 temporarily_unavailable, this Retry-After, this
  // description) is asserted in packages/fastify-kit/test/error-handler.test.ts.
  it('[SCALE-FAIL-CLOSED] fails closed with StoreUnavailableError (retry after 5 s) while down, logs once, and recovers by itself', async () => {
    const limiter = redisLimiters(redis)({ keyPrefix: 'x', points: 100, duration: 60 });
    await limiter.consume('k');
    await server.stop();
    expect(await eventually(() => !redis.isReady())).toBe(true);
    const errors = await Promise.allSettled(Array.from({ length: 25 }, () => limiter.consume('k')));
    for (const e of errors) {
      expect(e.status).toBe('rejected');
      const reason = (e as PromiseRejectedResult).reason as StoreUnavailableError;
      expect(reason).toBeInstanceOf(StoreUnavailableError);
      expect([reason.retryAfter, reason.message]).toEqual([5, 'a shared store is unavailable, retry later']);
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
