import { temporarilyUnavailable } from './errors.ts';

/**
 * Remembers the `jti` of each accepted JWT until it expires, so the same JWT is never accepted twice
 * (RFC 7523 §3 item 7, RFC 7521 §5.2). `remember` answers false when the key was already seen and is
 * still live. A shared implementation (e.g. Redis SET NX PX) gives the guarantee across instances.
 */
export interface JtiStore {
  remember(key: string, expiresAtMs: number): Promise<boolean>;
}

/** The replay store the assertion verifiers take (same shape as the DPoP proof store). */
export type AssertionReplayStore = JtiStore;

export interface MemoryReplayStoreOptions {
  /** Live entries held at most; past it (after dropping expired ones) new JWTs are refused with 503. */
  maxEntries?: number;
  now?: () => number;
}

const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * One process's replay store. Bounded: when full of live entries it fails closed (503
 * temporarily_unavailable with Retry-After until the soonest entry expires) rather than forgetting a
 * live jti, which would let that JWT be replayed. The verifiers cap assertion lifetimes (minutes), so
 * entries leave quickly.
 */
export function memoryAssertionReplayStore(opts: MemoryReplayStoreOptions = {}): AssertionReplayStore & { size(): number } {
  const maxEntries = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
  const now = opts.now ?? Date.now;
  const seen = new Map<string, number>();

  const sweep = (t: number) => {
    for (const [k, exp] of seen) if (exp <= t) seen.delete(k);
  };

  return {
    size: () => seen.size,
    async remember(key, expiresAtMs) {
      const t = now();
      const prior = seen.get(key);
      if (prior !== undefined) {
        if (prior > t) return false;
        seen.delete(key);
      }
      if (expiresAtMs <= t) return true; // already expired: nothing to protect, and verifiers refuse it anyway
      if (seen.size >= maxEntries) {
        sweep(t);
        if (seen.size >= maxEntries) {
          let soonest = Infinity;
          for (const exp of seen.values()) soonest = Math.min(soonest, exp);
          throw temporarilyUnavailable('too many recent assertions, retry later', Math.max(1, Math.ceil((soonest - t) / 1000)));
        }
      }
      seen.set(key, expiresAtMs);
      return true;
    },
  };
}
