import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, redisJtiStore, StoreUnavailableError, type SharedRedis } from '../src/index.ts';
import { freePort } from '../../../test/helpers/ports.ts';
import { SHARED_REDIS_URL, uniquePrefix } from './redis-server.ts';

const quiet = { error: () => {}, info: () => {} };

describe('redisJtiStore on the shared Redis', () => {
  let a: SharedRedis;
  let b: SharedRedis;
  beforeAll(async () => {
    // Two connections with one prefix: two instances of an app sharing Redis.
    const prefix = uniquePrefix('jti');
    a = connectRedis({ url: SHARED_REDIS_URL, keyPrefix: prefix, log: quiet });
    b = connectRedis({ url: SHARED_REDIS_URL, keyPrefix: prefix, log: quiet });
    expect(await a.waitUntilReady(2_000)).toBe(true);
    expect(await b.waitUntilReady(2_000)).toBe(true);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
  });

  it('[RFC9449-JTI-REPLAY] accepts a key once, on whichever instance sees it first', async () => {
    const one = redisJtiStore(a, 'dpop-jti');
    const two = redisJtiStore(b, 'dpop-jti');
    const expires = Date.now() + 60_000;
    expect(await one.remember('k1', expires)).toBe(true);
    expect(await one.remember('k1', expires)).toBe(false);
    expect(await two.remember('k1', expires)).toBe(false);
    expect(await two.remember('k2', expires)).toBe(true);
  });

  it('[RFC9449-JTI-REPLAY] answers two concurrent first uses of one key with exactly one true', async () => {
    const one = redisJtiStore(a, 'dpop-jti');
    const two = redisJtiStore(b, 'dpop-jti');
    const expires = Date.now() + 60_000;
    const results = await Promise.all([one.remember('race', expires), two.remember('race', expires), one.remember('race', expires), two.remember('race', expires)]);
    expect(results.filter(Boolean)).toHaveLength(1);
  });

  it('[RFC9449-JTI-REPLAY] keeps stores with different names apart and stores nothing already expired', async () => {
    const now = Date.now();
    expect(await redisJtiStore(a, 'dpop-jti').remember('shared-name', now + 60_000)).toBe(true);
    expect(await redisJtiStore(a, 'assertion-jti').remember('shared-name', now + 60_000)).toBe(true);
    const expired = redisJtiStore(a, 'dpop-jti');
    expect(await expired.remember('old', now - 1)).toBe(true);
    expect(await expired.remember('old', now - 1)).toBe(true);
    expect(await a.client.exists(`${a.keyPrefix}dpop-jti:old`)).toBe(0);
  });

  it('[RFC9449-JTI-REPLAY] lets Redis expire the key with the proof', async () => {
    const store = redisJtiStore(a, 'dpop-jti');
    expect(await store.remember('short', Date.now() + 50)).toBe(true);
    // Polled, not slept for a fixed time: the key is gone once Redis expires it.
    let again = false;
    for (let i = 0; i < 50 && !again; i++) {
      await new Promise((r) => setTimeout(r, 20));
      again = await store.remember('short', Date.now() + 60_000);
    }
    expect(again).toBe(true);
  });
});

describe('redisJtiStore without Redis', () => {
  it('[RFC9449-JTI-REPLAY] fails closed: an unreachable Redis is StoreUnavailableError, never a first use', async () => {
    const redis = connectRedis({ url: `redis://127.0.0.1:${await freePort()}`, keyPrefix: uniquePrefix('jti-down'), log: quiet });
    try {
      await expect(redisJtiStore(redis, 'dpop-jti').remember('k', Date.now() + 60_000)).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await redis.close();
    }
  });
});
