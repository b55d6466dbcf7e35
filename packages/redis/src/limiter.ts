import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { SharedRedis } from './connection.ts';

export interface LimiterOptions {
  /** Distinguishes the counters of one limiter from another's (and from other apps' keys). */
  keyPrefix: string;
  points: number;
  /** Window in seconds (a fixed window from the first point). */
  duration: number;
}

/** Builds rate-limiter-flexible limiters: in process, or in Redis so several instances share them. */
export type LimiterFactory = (opts: LimiterOptions) => RateLimiterAbstract;

/** In-process limiters: one instance only. */
export const memoryLimiters: LimiterFactory = (opts) => new RateLimiterMemory(opts);

type Options = { [key: string]: unknown };

/**
 * RateLimiterRedis that fails closed: a store error (down, timeout) rejects with the 503 from
 * `redis.unavailable` instead of the raw error, and there is no insuranceLimiter, so a limit never
 * silently lapses to a per-instance one. A used-up limit still rejects with RateLimiterRes.
 */
class FailClosedRedisLimiter extends RateLimiterRedis {
  readonly #fail: (err: unknown) => never;

  constructor(redis: SharedRedis, opts: LimiterOptions) {
    super({ storeClient: redis.client, keyPrefix: `${redis.keyPrefix}${opts.keyPrefix}`, points: opts.points, duration: opts.duration, rejectIfRedisNotReady: true });
    this.#fail = (err) => {
      if (err instanceof RateLimiterRes) throw err;
      throw redis.unavailable(err);
    };
  }

  override consume(key: string | number, points?: number, options?: Options): Promise<RateLimiterRes> {
    return super.consume(key, points, options).catch(this.#fail);
  }
  override get(key: string | number, options?: Options): Promise<RateLimiterRes | null> {
    return super.get(key, options).catch(this.#fail);
  }
  override penalty(key: string | number, points?: number, options?: Options): Promise<RateLimiterRes> {
    return super.penalty(key, points, options).catch(this.#fail);
  }
  override reward(key: string | number, points?: number, options?: Options): Promise<RateLimiterRes> {
    return super.reward(key, points, options).catch(this.#fail);
  }
  override delete(key: string | number, options?: Options): Promise<boolean> {
    return super.delete(key, options).catch(this.#fail);
  }
}

/** Limiters whose counters live in Redis (atomic INCR: N instances admit exactly `points` in total). */
export function redisLimiters(redis: SharedRedis): LimiterFactory {
  return (opts) => new FailClosedRedisLimiter(redis, opts);
}
