import { describe, expect, it } from 'vitest';
import { OAuthError, createMemoryJtiStore } from '../src/index.ts';

// A multiple of every bucket width used here, so bucket ranges start at T0.
const T0 = 1_800_000_000_000;

describe('memory jti store: expiry buckets of 128-bit digests', () => {
  it('[RFC9449-JTI-REPLAY] drops a whole bucket once its range has passed, and not before', async () => {
    let t = T0;
    const s = createMemoryJtiStore({ maxEntries: 100, now: () => t, bucketMs: 1000 });
    for (let i = 0; i < 10; i++) expect(await s.remember(`early${i}`, T0 + 500 + i)).toBe(true); // bucket [T0, T0+1000)
    for (let i = 0; i < 5; i++) expect(await s.remember(`late${i}`, T0 + 1500)).toBe(true); // bucket [T0+1000, T0+2000)
    expect(s.size).toBe(15);
    t = T0 + 999; // every early entry has expired, but its bucket's range has not passed
    expect(await s.remember('late0', T0 + 1500)).toBe(false);
    expect(s.size).toBe(15);
    t = T0 + 1000;
    expect(await s.remember('late1', T0 + 1500)).toBe(false);
    expect(s.size).toBe(5);
    expect(await s.remember('early3', T0 + 1800)).toBe(true);
    expect(s.size).toBe(6);
    t = T0 + 2000;
    expect(await s.remember('x', T0 + 2001)).toBe(true);
    expect(s.size).toBe(1);
  });

  it('[RFC9449-JTI-REPLAY] an expired entry in a live bucket is not a replay: its key is taken again, held once, with its new expiry', async () => {
    let t = T0;
    const s = createMemoryJtiStore({ maxEntries: 100, now: () => t, bucketMs: 10_000 });
    expect(await s.remember('a', T0 + 1000)).toBe(true);
    expect(await s.remember('b', T0 + 1000)).toBe(true);
    t = T0 + 1000;
    // Same bucket, then another bucket: either way the expired copy makes way and the size stays exact.
    expect(await s.remember('a', T0 + 5000)).toBe(true);
    expect(await s.remember('b', T0 + 25_000)).toBe(true);
    expect(s.size).toBe(2);
    t = T0 + 4999;
    expect(await s.remember('a', T0 + 30_000)).toBe(false);
    expect(await s.remember('b', T0 + 30_000)).toBe(false);
    t = T0 + 5000;
    expect(await s.remember('a', T0 + 6000)).toBe(true);
    expect(await s.remember('b', T0 + 6000)).toBe(false); // still live until T0+25000
    t = T0 + 25_000;
    expect(await s.remember('b', T0 + 6000)).toBe(true); // already expired: accepted, not stored, old copy gone
    expect(s.size).toBe(0);
  });

  it('[RFC9449-JTI-REPLAY] full of live entries it refuses with 503 and Retry-After until the soonest expiry, rebuilding the current bucket once', async () => {
    let t = T0;
    const s = createMemoryJtiStore({ maxEntries: 3, now: () => t, bucketMs: 10_000, refusal: 'full' });
    expect(await s.remember('a', T0 + 8000)).toBe(true);
    expect(await s.remember('b', T0 + 2500)).toBe(true);
    expect(await s.remember('c', T0 + 45_000)).toBe(true);
    const full = await s.remember('d', T0 + 9000).catch((e: unknown) => e);
    expect(full).toBeInstanceOf(OAuthError);
    expect(full).toMatchObject({ code: 'temporarily_unavailable', status: 503, retryAfter: 3, description: 'full' });
    t = T0 + 2500; // b expired inside a live bucket: making room drops it
    expect(await s.remember('d', T0 + 9000)).toBe(true);
    expect(s.size).toBe(3);
    expect(await s.remember('e', T0 + 9000).catch((e: unknown) => e)).toMatchObject({ code: 'temporarily_unavailable', retryAfter: 6 });
    for (const k of ['a', 'c', 'd']) expect(await s.remember(k, T0 + 50_000)).toBe(false);
    t = T0 + 10_000; // the first bucket's range has passed: a and d go with it
    expect(await s.remember('e', T0 + 11_000)).toBe(true);
    expect(await s.remember('f', T0 + 11_000)).toBe(true);
    expect(await s.remember('g', T0 + 11_000).catch((e: unknown) => e)).toMatchObject({ code: 'temporarily_unavailable', retryAfter: 1 });
    expect(await s.remember('c', T0 + 50_000)).toBe(false);
  });

  it('[RFC9449-JTI-REPLAY] a large store never forgets a live key, through table growth, removals and bucket drops', async () => {
    let t = T0;
    const s = createMemoryJtiStore({ maxEntries: 5000, now: () => t, bucketMs: 700 });
    const model = new Map<string, number>();
    let seed = 4242;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
    for (let i = 0; i < 40_000; i++) {
      t += Math.floor(rand() * 3);
      const key = `k${Math.floor(rand() * 8000)}`;
      const exp = t + 1 + Math.floor(rand() * 4000);
      const held = model.get(key);
      const r = await s.remember(key, exp).catch((e: unknown) => e);
      if (held !== undefined && held > t) expect(r, `iteration ${i}`).toBe(false);
      else if (r === true) model.set(key, exp);
      else expect(r, `iteration ${i}`).toMatchObject({ code: 'temporarily_unavailable' });
      expect(s.size).toBeLessThanOrEqual(5000);
    }
    // Every key the model holds as live is still refused.
    for (const [key, exp] of model) if (exp > t) expect(await s.remember(key, exp), key).toBe(false);
  });

  it('[RFC9449-JTI-REPLAY] keys are compared whole: ones that differ only late, or only in length, are distinct', async () => {
    const s = createMemoryJtiStore({ maxEntries: 10, now: () => T0 });
    const long = 'x'.repeat(300);
    expect(await s.remember(`${long}a`, T0 + 1000)).toBe(true);
    expect(await s.remember(`${long}b`, T0 + 1000)).toBe(true);
    expect(await s.remember(long, T0 + 1000)).toBe(true);
    expect(await s.remember('', T0 + 1000)).toBe(true);
    expect(await s.remember('', T0 + 1000)).toBe(false);
    expect(await s.remember(`${long}b`, T0 + 1000)).toBe(false);
  });

  it('rejects a bucket width that is not a positive integer', () => {
    expect(() => createMemoryJtiStore({ maxEntries: 10, now: () => T0, bucketMs: 0 })).toThrow(TypeError);
    expect(() => createMemoryJtiStore({ maxEntries: 10, now: () => T0, bucketMs: 1.5 })).toThrow(TypeError);
  });
});
