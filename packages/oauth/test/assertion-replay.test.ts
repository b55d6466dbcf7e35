import { describe, expect, it } from 'vitest';
import { memoryAssertionReplayStore, OAuthError } from '../src/index.ts';

describe('memoryAssertionReplayStore', () => {
  it('[RFC7523-JTI-REPLAY] answers true the first time, false while the key is live, true again once it has expired', async () => {
    let now = 1_000_000;
    const store = memoryAssertionReplayStore({ now: () => now });
    expect(await store.remember('a', now + 60_000)).toBe(true);
    expect(await store.remember('a', now + 60_000)).toBe(false);
    expect(await store.remember('b', now + 60_000)).toBe(true);
    now += 60_000;
    expect(await store.remember('a', now + 1_000)).toBe(true);
    // A key that has already expired is never stored.
    expect(await store.remember('c', now - 1)).toBe(true);
    expect(store.size()).toBe(2);
  });

  it('[HARD-ASSERTION-REPLAY-BOUNDED] when full of live entries it refuses with 503 and Retry-After instead of forgetting one; expired entries make room', async () => {
    let now = 0;
    const store = memoryAssertionReplayStore({ maxEntries: 3, now: () => now });
    for (const [k, exp] of [['a', 10_000], ['b', 20_000], ['c', 30_000]] as const) expect(await store.remember(k, exp)).toBe(true);
    const err = await store.remember('d', 40_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OAuthError);
    expect(err).toMatchObject({ code: 'temporarily_unavailable', status: 503, retryAfter: 10 });
    // Still remembered: the refusal did not evict anything.
    expect(await store.remember('a', 10_000)).toBe(false);
    now = 10_000;
    expect(await store.remember('d', 40_000)).toBe(true);
    expect(store.size()).toBe(3);
    expect(() => memoryAssertionReplayStore({ maxEntries: 0 })).toThrow(TypeError);
  });
});
