import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectRedis, memoryWaitGates, redisWaitGates, StoreUnavailableError, type SharedRedis, type WaitGateFactory } from '../src/index.ts';
import { SHARED_REDIS_URL, uniquePrefix } from './redis-server.ts';

const quiet = { error: () => {}, info: () => {} };

let redis: SharedRedis;
beforeAll(async () => {
  redis = connectRedis({ url: SHARED_REDIS_URL, keyPrefix: uniquePrefix('gate'), log: quiet });
  expect(await redis.waitUntilReady(3000)).toBe(true);
});
afterAll(async () => redis?.close());

const kinds: [string, () => WaitGateFactory][] = [['in process', () => memoryWaitGates], ['in Redis', () => redisWaitGates(redis)]];

describe.each(kinds)('wait gates %s', (_name, factory) => {
  it('[HARD-LOGIN-DELAY-NOT-LOCK] makes the first caller wait, lets one caller through once ready and re-arms for the next', async () => {
    const gate = factory()({ keyPrefix: 'g1' });
    const t = 1_700_000_000_000;
    expect(await gate.pass('k', t, 5000, 60_000)).toBe(t + 5000);
    expect(await gate.pass('k', t + 4999, 5000, 60_000)).toBe(t + 5000);
    // Ready: of many callers at once exactly one passes; the gate is then set again for the others.
    const results = await Promise.all(Array.from({ length: 10 }, () => gate.pass('k', t + 5000, 7000, 60_000)));
    expect(results.filter((r) => r === 0)).toHaveLength(1);
    expect(results.filter((r) => r === t + 12_000)).toHaveLength(9);
    // open(): ready now; delete(): forgotten, so the next caller waits again.
    await gate.open('k', t + 5001, 60_000);
    expect(await gate.pass('k', t + 5001, 1000, 60_000)).toBe(0);
    await gate.delete('k');
    expect(await gate.pass('k', t + 5002, 1000, 60_000)).toBe(t + 6002);
    // Keys are apart, and so are gates of other prefixes.
    expect(await gate.pass('other', t, 3000, 60_000)).toBe(t + 3000);
    expect(await factory()({ keyPrefix: 'g2' }).pass('k', t, 3000, 60_000)).toBe(t + 3000);
  });
});

describe('wait gates in process', () => {
  it('[HARD-LOGIN-DELAY-NOT-LOCK] keep at most maxKeys (the oldest go first) and forget a gate kept past keepMs', async () => {
    const gate = memoryWaitGates({ keyPrefix: 'b', maxKeys: 3 });
    for (const k of ['a', 'b', 'c', 'd']) await gate.pass(k, 0, 1000, 10_000);
    // 'a' was dropped: it waits anew (a lost gate only ever costs a wait, never skips one).
    expect(await gate.pass('a', 1000, 1000, 10_000)).toBe(2000);
    expect(await gate.pass('d', 1000, 1000, 10_000)).toBe(0);
    // Past ready time + keepMs the gate is gone: a new wait.
    expect(await gate.pass('c', 11_001, 1000, 10_000)).toBe(12_001);
  });
});

describe('wait gates in Redis', () => {
  it('[SCALE-FAIL-CLOSED] fail closed with StoreUnavailableError (a 503) while Redis is unreachable', async () => {
    const down = connectRedis({ url: 'redis://127.0.0.1:1', keyPrefix: 'x:', log: quiet });
    try {
      const err = await redisWaitGates(down)({ keyPrefix: 'g' }).pass('k', 0, 1000, 1000).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(StoreUnavailableError);
      expect((err as StoreUnavailableError).retryAfter).toBe(5);
    } finally {
      await down.close();
    }
  });
});
