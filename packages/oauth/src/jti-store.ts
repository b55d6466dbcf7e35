import { hash } from 'node:crypto';
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
  /**
   * Entries are grouped by expiry into buckets this many milliseconds wide, and a bucket whose range
   * has passed is dropped whole. A lookup probes every live bucket, so the width should be a fair
   * fraction of the longest lifetime stored (default 10 s: a DPoP proof's 71 s spread over ≤ 9).
   */
  bucketMs?: number;
}

/** Slots of a new bucket's table (a power of two); it doubles when half full. */
const MIN_SLOTS = 256;

/**
 * One expiry range's entries: an open-addressing table (linear probing) of 128-bit digests, four
 * 32-bit words per slot, and each entry's expiry (epoch ms; 0 marks an empty slot). Typed arrays,
 * so a million entries are a few flat buffers the garbage collector neither copies nor traces,
 * where a Map of string keys is one heap string per entry, each promoted and marked again and again.
 */
class Bucket {
  words: Int32Array;
  expiry: Float64Array;
  count = 0;
  /** No entry expires before this (exact after a rebuild, possibly lower after a removal). */
  minExpiry = Infinity;

  constructor(readonly index: number, slots = MIN_SLOTS) {
    this.words = new Int32Array(slots * 4);
    this.expiry = new Float64Array(slots);
  }

  /** The slot holding digest `d`, or -1. */
  find(d: Int32Array): number {
    const { words, expiry } = this;
    const mask = expiry.length - 1;
    for (let i = d[0]! & mask; ; i = (i + 1) & mask) {
      if (expiry[i] === 0) return -1;
      const w = i * 4;
      if (words[w] === d[0] && words[w + 1] === d[1] && words[w + 2] === d[2] && words[w + 3] === d[3]) return i;
    }
  }

  /** Adds digest `d` (known absent), growing the table past half full. */
  insert(d: Int32Array, expiresAtMs: number): void {
    if ((this.count + 1) * 2 > this.expiry.length) this.rebuild(this.expiry.length * 2, 0);
    this.put(d[0]!, d[1]!, d[2]!, d[3]!, expiresAtMs);
    this.count++;
    if (expiresAtMs < this.minExpiry) this.minExpiry = expiresAtMs;
  }

  private put(w0: number, w1: number, w2: number, w3: number, expiresAtMs: number): void {
    const { words, expiry } = this;
    const mask = expiry.length - 1;
    let i = w0 & mask;
    while (expiry[i] !== 0) i = (i + 1) & mask;
    const w = i * 4;
    words[w] = w0;
    words[w + 1] = w1;
    words[w + 2] = w2;
    words[w + 3] = w3;
    expiry[i] = expiresAtMs;
  }

  /** Empties slot `i`, moving later entries of its probe run back so every lookup still reaches them (no tombstones). */
  remove(i: number): void {
    const { words, expiry } = this;
    const mask = expiry.length - 1;
    expiry[i] = 0;
    this.count--;
    for (let j = (i + 1) & mask; expiry[j] !== 0; j = (j + 1) & mask) {
      const home = words[j * 4]! & mask;
      // The entry at j may move to the hole at i when its home slot is not cyclically within (i, j].
      if (i <= j ? home <= i || home > j : home <= i && home > j) {
        words.copyWithin(i * 4, j * 4, j * 4 + 4);
        expiry[i] = expiry[j]!;
        expiry[j] = 0;
        i = j;
      }
    }
  }

  /** Re-lays the table at `slots`, keeping only entries that expire after `now` (0: all). */
  rebuild(slots: number, now: number): void {
    const { words, expiry } = this;
    this.words = new Int32Array(slots * 4);
    this.expiry = new Float64Array(slots);
    this.count = 0;
    this.minExpiry = Infinity;
    for (let i = 0; i < expiry.length; i++) {
      const exp = expiry[i]!;
      if (exp === 0 || exp <= now) continue;
      const w = i * 4;
      this.put(words[w]!, words[w + 1]!, words[w + 2]!, words[w + 3]!, exp);
      this.count++;
      if (exp < this.minExpiry) this.minExpiry = exp;
    }
  }
}

/**
 * A bounded in-process {@link JtiStore} for one instance. A key is held as the first 128 bits of
 * its SHA-256, in a bucket of entries expiring in the same `bucketMs` range; a bucket is dropped
 * whole once its range has passed, and an expired entry in a live bucket is ignored by lookups,
 * replaced when its key comes again and dropped when the store is full. A key that has already
 * expired is not stored (nothing to protect). When every held entry is still live it fails closed:
 * `remember` throws `temporarily_unavailable` (503, `Retry-After` until the soonest entry expires)
 * instead of forgetting a live `jti`, which would let that proof be replayed. Only the bucket whose
 * range holds the present instant can hold expired entries besides the dropped ones, so making room
 * rebuilds that one bucket, at most once until the earliest expiry it found.
 *
 * Digest collisions: two distinct keys collide only if their SHA-256 values agree on 128 bits. Among
 * n live keys the chance of any collision is about n² / 2^129 (10^-25 for ten million), and a client
 * aiming at one is a 2^64 birthday search at best; and a collision fails closed either way — the
 * second key is refused as already used, never a replay accepted.
 */
export function createMemoryJtiStore(opts: MemoryJtiStoreOptions): JtiStore & { readonly size: number } {
  if (!Number.isSafeInteger(opts.maxEntries) || opts.maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
  const width = opts.bucketMs ?? 10_000;
  if (!Number.isSafeInteger(width) || width < 1) throw new TypeError('bucketMs must be a positive integer');
  /** Live buckets in order of their range; every range ends after the last drop. */
  const buckets: Bucket[] = [];
  const digest = new Int32Array(4);
  let size = 0;
  let noExpiryBefore = 0; // after a rebuild made no room: no entry expires before this instant

  const dropPassed = (now: number): void => {
    let n = 0;
    while (n < buckets.length && (buckets[n]!.index + 1) * width <= now) size -= buckets[n++]!.count;
    if (n > 0) buckets.splice(0, n);
  };

  /** Makes room by dropping the expired entries of the one bucket that still holds some. */
  const sweep = (now: number): void => {
    if (now < noExpiryBefore) return;
    const first = buckets[0];
    if (first && first.minExpiry <= now) {
      size -= first.count;
      first.rebuild(first.expiry.length, now);
      size += first.count;
      if (first.count === 0) buckets.shift();
    }
    noExpiryBefore = buckets.reduce((m, b) => Math.min(m, b.minExpiry), Infinity);
  };

  const bucketFor = (expiresAtMs: number): Bucket => {
    const index = Math.floor(expiresAtMs / width);
    let i = buckets.length;
    while (i > 0 && buckets[i - 1]!.index > index) i--;
    if (i > 0 && buckets[i - 1]!.index === index) return buckets[i - 1]!;
    const b = new Bucket(index);
    buckets.splice(i, 0, b);
    return b;
  };

  return {
    get size() {
      return size;
    },
    remember(key, expiresAtMs) {
      const now = opts.now();
      dropPassed(now);
      const h = hash('sha256', key, 'buffer');
      digest[0] = h.readInt32LE(0);
      digest[1] = h.readInt32LE(4);
      digest[2] = h.readInt32LE(8);
      digest[3] = h.readInt32LE(12);
      for (const b of buckets) {
        const slot = b.find(digest);
        if (slot < 0) continue;
        if (b.expiry[slot]! > now) return Promise.resolve(false);
        b.remove(slot); // expired: it makes way for the new entry (or none, below)
        size--;
        break; // a key is held at most once
      }
      if (expiresAtMs <= now) return Promise.resolve(true);
      if (size >= opts.maxEntries) sweep(now);
      if (size >= opts.maxEntries) {
        const retryAfter = Math.max(1, Math.ceil((noExpiryBefore - now) / 1000));
        return Promise.reject(temporarilyUnavailable(opts.refusal ?? 'too many DPoP proofs in flight, retry later', retryAfter));
      }
      bucketFor(expiresAtMs).insert(digest, expiresAtMs);
      size++;
      return Promise.resolve(true);
    },
  };
}
