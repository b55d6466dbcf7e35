import {
  connectRedis, memoryLimiters, memoryWaitGates, redisLimiters, redisWaitGates, type LimiterFactory, type RedisLog, type SharedRedis, type WaitGateFactory,
} from '@stack/redis';
import type { AuthConfig } from '../config.ts';

/** Where the abuse limiters (failed logins, client authentication, registration) keep their counters. */
export interface AbuseLimiterStore {
  limiters: LimiterFactory;
  /** Per-key waits (failed logins delay, rather than refuse, an account under attack). */
  gates: WaitGateFactory;
  /** The Redis connection when REDIS_URL is set. */
  redis: SharedRedis | undefined;
  close(): Promise<void>;
}

/**
 * In process without REDIS_URL; in Redis with it, so the limits hold across instances (a guesser
 * spreading attempts over N instances gets no N-fold budget). Redis limiters fail closed: while Redis
 * is unreachable the limited endpoints answer 503 rather than stop counting.
 */
export function createAbuseLimiterStore(config: AuthConfig, log: RedisLog): AbuseLimiterStore {
  if (!config.redis) return { limiters: memoryLimiters, gates: memoryWaitGates, redis: undefined, close: async () => {} };
  const redis = connectRedis({ url: config.redis.url, keyPrefix: `${config.redis.keyPrefix}auth:`, log });
  return { limiters: redisLimiters(redis), gates: redisWaitGates(redis), redis, close: () => redis.close() };
}
