import { temporarilyUnavailable } from './errors.ts';

/**
 * Remembers the `jti` of every accepted one-time JWT — DPoP proof (RFC 9449 §11.1), client
 * assertion or authorization grant (RFC 7523 §3 item 7) — for as long as it could be accepted, so a
 * replayed one is refused.
 *
 * A Redis implementation (several instances sharing the cache) is one command per proof:
 * `SET <prefix><key> 1 NX PXAT <expiresAtMs>` (or `PX <expiresAtMs - now>` before Redis 6.2) —
 * `OK` means first use (true), a nil reply means seen (false); Redis expires the key itself. It
 * must fail closed: an unreachable Redis throws (the request is refused), never answers true.
 */
export interface JtiStore {
  /**
   * Records `key` until `expiresAtMs` (epoch milliseconds). Resolves true the first time, false
   * when the key is already recorded and not yet expired. Throws (an OAuthError) when it cannot
   * record it, so the caller refuses the proof rather than accepting one it may not detect again.
   */
  remember(key: string, expiresAtMs: number): Promise<boolean>;
}

export interface MemoryJtiStoreOptions {
  /** Most live entries held; size it above peak accepted proofs per second × the proof window. */
  maxEntries: number;
  /** Epoch milliseconds. */
  now: () => number;
  /** The `error_description` of the refusal when full (default names DPoP proofs). */
  refusal?: string;
}

/**
 * A bounded in-process {@link JtiStore} for one instance. A key that has already expired is not
 * stored (nothing to protect). Expired entries are dropped first; when
 * every held entry is still live it fails closed: `remember` throws `temporarily_unavailable` (503,
 * `Retry-After` until the oldest entry expires) instead of forgetting a live `jti`, which would let
 * that proof be replayed. Entries are kept in insertion order, which is close to expiry order (all
 * share one window), so the sweep usually stops at the first live entry; a full scan runs only when
 * that frees nothing, and at most once until the earliest expiry it found.
 */
export function createMemoryJtiStore(opts: MemoryJtiStoreOptions): JtiStore & { readonly size: number } {
  if (!Number.isSafeInteger(opts.maxEntries) || opts.maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
  const entries = new Map<string, number>();
  let noExpiryBefore = 0; // after a full scan: no entry expires before this instant

  const sweep = (now: number): void => {
    for (const [k, exp] of entries) {
      if (exp > now) break;
      entries.delete(k);
    }
    if (entries.size < opts.maxEntries || now < noExpiryBefore) return;
    let earliest = Infinity;
    for (const [k, exp] of entries) {
      if (exp <= now) entries.delete(k);
      else earliest = Math.min(earliest, exp);
    }
    noExpiryBefore = earliest;
  };

  return {
    get size() {
      return entries.size;
    },
    remember(key, expiresAtMs) {
      const now = opts.now();
      const seen = entries.get(key);
      if (seen !== undefined) {
        if (seen > now) return Promise.resolve(false);
        entries.delete(key); // an expired entry is re-inserted at the end, keeping insertion ≈ expiry order
      }
      if (expiresAtMs <= now) return Promise.resolve(true);
      if (entries.size >= opts.maxEntries) sweep(now);
      if (entries.size >= opts.maxEntries) {
        const retryAfter = Math.max(1, Math.ceil((noExpiryBefore - now) / 1000));
        return Promise.reject(temporarilyUnavailable(opts.refusal ?? 'too many DPoP proofs in flight, retry later', retryAfter));
      }
      entries.set(key, expiresAtMs);
      return Promise.resolve(true);
    },
  };
}
