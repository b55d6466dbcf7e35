import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimited } from '@stack/oauth';

/**
 * A fixed-window counter store: `consume(key, perMinute)` counts one call. Kept this small so a
 * Redis-backed store (RateLimiterRedis) can replace the in-memory one for several instances.
 */
export interface RateLimitStore {
  consume(key: string, perMinute: number): Promise<{ allowed: true } | { allowed: false; retryAfterSec: number }>;
}

/** In-process store: one RateLimiterMemory per distinct limit (a reloaded policy may change a tool's limit). */
export function createMemoryRateLimitStore(): RateLimitStore {
  const limiters = new Map<number, RateLimiterMemory>();
  return {
    async consume(key, perMinute) {
      let limiter = limiters.get(perMinute);
      if (!limiter) {
        limiter = new RateLimiterMemory({ points: perMinute, duration: 60, keyPrefix: `rl${perMinute}` });
        limiters.set(perMinute, limiter);
      }
      try {
        await limiter.consume(key, 1);
        return { allowed: true };
      } catch (res) {
        if (res instanceof RateLimiterRes) return { allowed: false, retryAfterSec: Math.max(1, Math.ceil(res.msBeforeNext / 1000)) };
        throw res;
      }
    },
  };
}

export interface RateLimits {
  /**
   * Counts one request for `identityKey` (the user, client or key, never only the address) and,
   * for a tool call, one call of that tool by that identity. Throws a 429 OAuthError with retryAfter.
   */
  check(identityKey: string, tool?: { name: string; perMinute: number | undefined }): Promise<void>;
}

export function createRateLimits(store: RateLimitStore, perIdentityPerMinute: number): RateLimits {
  return {
    async check(identityKey, tool) {
      const id = await store.consume(`id:${identityKey}`, perIdentityPerMinute);
      if (!id.allowed) throw rateLimited(id.retryAfterSec);
      if (tool?.perMinute) {
        const t = await store.consume(`tool:${tool.name}:${identityKey}`, tool.perMinute);
        if (!t.allowed) throw rateLimited(t.retryAfterSec);
      }
    },
  };
}
