import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { rateLimited } from '@stack/oauth';
import { memoryLimiters, tryConsume, type LimiterFactory } from '@stack/redis';

/**
 * A fixed-window counter store: `consume(key, perMinute)` counts one call. Kept this small so a
 * Redis-backed store (RateLimiterRedis) can replace the in-memory one for several instances.
 */
export interface RateLimitStore {
  consume(key: string, perMinute: number): Promise<{ allowed: true } | { allowed: false; retryAfterSec: number }>;
}

/** In-process store (one instance). */
export function createMemoryRateLimitStore(): RateLimitStore {
  return createLimiterRateLimitStore(memoryLimiters);
}

/**
 * A store over rate-limiter-flexible limiters from `factory`: in memory, or Redis (@stack/redis
 * redisLimiters) so several instances share the counters; a Redis failure rejects with the
 * StoreUnavailableError (a 503) from the factory's limiter. One limiter per distinct limit (a
 * reloaded policy may change a tool's limit).
 */
export function createLimiterRateLimitStore(factory: LimiterFactory): RateLimitStore {
  const limiters = new Map<number, RateLimiterAbstract>();
  return {
    async consume(key, perMinute) {
      let limiter = limiters.get(perMinute);
      if (!limiter) {
        limiter = factory({ points: perMinute, duration: 60, keyPrefix: `rl${perMinute}` });
        limiters.set(perMinute, limiter);
      }
      const res = await tryConsume(limiter, key);
      return typeof res === 'number' ? { allowed: false, retryAfterSec: res } : { allowed: true };
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
