import { createMemoryJtiStore, type JtiStore } from './jti-store.ts';

/**
 * The replay store the assertion verifiers take: each accepted JWT's `jti` is remembered until it
 * expires, so the same JWT is never accepted twice (RFC 7523 §3 item 7, RFC 7521 §5.2). The same
 * {@link JtiStore} as DPoP proofs use; a shared implementation (Redis SET NX PX) gives the guarantee
 * across instances.
 */
export type AssertionReplayStore = JtiStore;

export interface MemoryReplayStoreOptions {
  /** Live entries held at most; past it (after dropping expired ones) new JWTs are refused with 503. */
  maxEntries?: number;
  now?: () => number;
}

const DEFAULT_MAX_ENTRIES = 100_000;

/**
 * One process's replay store ({@link createMemoryJtiStore}): bounded, and when full of live entries
 * it fails closed (503 temporarily_unavailable with Retry-After until the soonest entry expires)
 * rather than forgetting a live jti, which would let that JWT be replayed. The verifiers cap
 * assertion lifetimes (minutes), so entries leave quickly.
 */
export function memoryAssertionReplayStore(opts: MemoryReplayStoreOptions = {}): AssertionReplayStore & { size(): number } {
  const store = createMemoryJtiStore({
    maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES,
    now: opts.now ?? Date.now,
    refusal: 'too many recent assertions, retry later',
    // Assertions live minutes and workload tokens up to an hour: a minute per bucket keeps a lookup
    // to a few dozen small tables.
    bucketMs: 60_000,
  });
  return { size: () => store.size, remember: (key, expiresAtMs) => store.remember(key, expiresAtMs) };
}
