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
 * RateLimiterRedis that fails closed: a store error (down, timeout) rejects with the
 * StoreUnavailableError from `redis.unavailable` instead of the raw error, and there is no
 * insuranceLimiter, so a limit never silently lapses to a per-instance one. A used-up limit still
 * rejects with RateLimiterRes.
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

/** Seconds until a used-up budget has a point again: the Retry-After of its refusal, at least 1. */
export const secondsUntilReset = (res: RateLimiterRes): number => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

/**
 * Takes one point of `key`'s budget: resolves with the limiter's result, or with the seconds until
 * a point is free again (secondsUntilReset) when the budget is used up. A store failure
 * (StoreUnavailableError from a Redis limiter) rejects: a limit never lapses into "allowed".
 */
export async function tryConsume(limiter: RateLimiterAbstract, key: string): Promise<RateLimiterRes | number> {
  try {
    return await limiter.consume(key);
  } catch (res) {
    // rate-limiter-flexible rejects a used-up budget with its result, not an Error.
    if (res instanceof RateLimiterRes) return secondsUntilReset(res);
    throw res;
  }
}

/**
 * Takes one point of `key`'s budget or refuses: a used-up budget rejects with `refuse(seconds)`,
 * the caller's 429 carrying Retry-After (RFC 6585 §4), e.g. @stack/oauth's `rateLimited`. Resolves
 * with the limiter's result (consumedPoints and so on); store failures reject as in tryConsume.
 */
export async function consumeOr429(limiter: RateLimiterAbstract, key: string, refuse: (retryAfterSec: number) => Error): Promise<RateLimiterRes> {
  const res = await tryConsume(limiter, key);
  if (typeof res === 'number') throw refuse(res);
  return res;
}
