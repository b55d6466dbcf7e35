import type { Identity } from './identity.ts';

export interface CachedToken {
  identity: Identity;
  /** `exp` claim, seconds since the epoch. */
  exp: number;
  jti: string;
  /** JWKS generation the token was verified against. */
  keysGeneration: number;
}

/**
 * A bounded map of verified tokens, least recently used evicted first (a Map keeps insertion
 * order, and a hit re-inserts). Keys are SHA-256 digests of the token, never the token itself.
 */
export class TokenCache {
  readonly #max: number;
  readonly #map = new Map<string, CachedToken>();

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 0) throw new TypeError('cacheSize must be a non-negative integer');
    this.#max = max;
  }

  get size(): number {
    return this.#map.size;
  }

  get(key: string): CachedToken | undefined {
    const hit = this.#map.get(key);
    if (hit) {
      this.#map.delete(key);
      this.#map.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: CachedToken): void {
    if (this.#max === 0) return;
    this.#map.delete(key);
    this.#map.set(key, value);
    while (this.#map.size > this.#max) {
      const oldest = this.#map.keys().next();
      if (oldest.done) break;
      this.#map.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.#map.delete(key);
  }
}
