import {
  connectRedis, memoryLimiters, memoryWaitGates, redisJtiStore, redisLimiters, redisWaitGates, type LimiterFactory, type RedisLog, type SharedRedis, type WaitGateFactory,
} from '@stack/redis';
import { memoryAssertionReplayStore, type AssertionReplayStore } from '@stack/oauth';
import type { AuthConfig } from '../config.ts';

/** Where the abuse limiters (failed logins, client authentication, registration) keep their counters. */
export interface AbuseLimiterStore {
  limiters: LimiterFactory;
  /** Per-key waits (failed logins delay, rather than refuse, an account under attack). */
  gates: WaitGateFactory;
  /**
   * The jti of every accepted client assertion (RFC 7523 §3 item 7), until it expires: in process, or
   * in Redis with REDIS_URL so that an assertion accepted by one instance is refused by every other.
   */
  assertionReplay: AssertionReplayStore;
  /** The Redis connection when REDIS_URL is set. */
  redis: SharedRedis | undefined;
  close(): Promise<void>;
}

/**
 * In process without REDIS_URL; in Redis with it, so the limits hold across instances (a guesser
 * spreading attempts over N instances gets no N-fold budget). Redis limiters fail closed: while Redis
 * is unreachable the limited endpoints answer 503 rather than stop counting.
 */
export function createAbuseLimiterStore(config: AuthConfig, log: RedisLog, now: () => number = Date.now): AbuseLimiterStore {
  if (!config.redis) {
    return { limiters: memoryLimiters, gates: memoryWaitGates, assertionReplay: memoryAssertionReplayStore({ now }), redis: undefined, close: async () => {} };
  }
  const redis = connectRedis({ url: config.redis.url, keyPrefix: `${config.redis.keyPrefix}auth:`, log });
  return {
    limiters: redisLimiters(redis), gates: redisWaitGates(redis), assertionReplay: redisJtiStore(redis, 'assertion-jti', now), redis, close: () => redis.close(),
  };
}
