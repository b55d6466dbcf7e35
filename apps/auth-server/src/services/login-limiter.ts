import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { tokenHash } from '@stack/crypto';
import { memoryLimiters, type LimiterFactory } from '@stack/redis';

/**
 * Limits failed logins per account and per client address (RFC 9700 §4.1: slow down credential
 * guessing). Kept behind this interface so a shared (Redis) store can replace the in-memory one
 * without touching the login route.
 */
export interface LoginLimiter {
  /**
   * Reserves one attempt for the account and the address before the password is checked, so
   * parallel guesses cannot overshoot the limit. Returns the seconds to wait when either is used
   * up (nothing is reserved then), else 0. A failed attempt simply keeps its reservation.
   */
  reserve(account: string, address: string): Promise<number>;
  /** The attempt succeeded: the address gets its reservation back and the account's failures are cleared. */
  succeeded(account: string, address: string): Promise<void>;
}

export interface LoginLimits {
  maxFailuresPerAccount: number;
  maxFailuresPerAddress: number;
  windowSeconds: number;
}

// Unknown emails are counted exactly like known ones, so the lockout reveals nothing about which
// accounts exist; keys are hashed so the limiter holds no email addresses and has a fixed key size.
const accountKey = (account: string) => tokenHash(account.trim().toLowerCase());

const seconds = (res: RateLimiterRes) => Math.max(1, Math.ceil(res.msBeforeNext / 1000));

/** Rejections of consume() are RateLimiterRes (limit reached); anything else is a real error. */
async function take(limiter: RateLimiterAbstract, key: string): Promise<number> {
  try {
    await limiter.consume(key);
    return 0;
  } catch (res) {
    if (res instanceof RateLimiterRes) return seconds(res);
    throw res;
  }
}

/** An in-process limiter (one server instance); fixed windows of `windowSeconds` from the first attempt. */
export function createMemoryLoginLimiter(limits: LoginLimits): LoginLimiter {
  return createLoginLimiter(limits, memoryLimiters);
}

/**
 * The login limiter over limiters from `factory` (in process, or Redis so the counts hold across
 * instances; a Redis failure rejects with a 503 OAuthError and the attempt is refused).
 */
export function createLoginLimiter(limits: LoginLimits, factory: LimiterFactory): LoginLimiter {
  const perAccount = factory({ keyPrefix: 'acct', points: limits.maxFailuresPerAccount, duration: limits.windowSeconds });
  const perAddress = factory({ keyPrefix: 'addr', points: limits.maxFailuresPerAddress, duration: limits.windowSeconds });

  async function usedUp(limiter: RateLimiterAbstract, key: string, max: number): Promise<number> {
    const res = await limiter.get(key);
    return res && res.consumedPoints >= max ? seconds(res) : 0;
  }

  return {
    async reserve(account, address) {
      const key = accountKey(account);
      // Check first, so a locked account or address does not keep extending its own count.
      const wait = Math.max(
        await usedUp(perAccount, key, limits.maxFailuresPerAccount),
        await usedUp(perAddress, address, limits.maxFailuresPerAddress),
      );
      if (wait > 0) return wait;
      const a = await take(perAccount, key);
      if (a > 0) return a;
      const b = await take(perAddress, address);
      if (b > 0) await perAccount.reward(key);
      return b;
    },
    async succeeded(account, address) {
      await perAccount.delete(accountKey(account));
      await perAddress.reward(address);
    },
  };
}
