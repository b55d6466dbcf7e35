import { RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { tokenHash } from '@stack/crypto';
import { addressLimitKey, memoryLimiters, type LimiterFactory } from '@stack/redis';

/**
 * Limits failed logins per account and per client address (RFC 9700 §4.1: slow down credential
 * guessing). Kept behind this interface so a shared (Redis) store can replace the in-memory one
 * without touching the login route.
 *
 * Three counters, all reserved before the password is checked:
 * - account from one address (LOGIN_MAX_FAILURES_PER_ACCOUNT, tight): a guesser at one address
 *   locks the account only for that address, so nobody can lock the real user (or the admin) out
 *   from theirs;
 * - account from all addresses (LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES, much higher): caps
 *   guessing spread over many addresses;
 * - address across accounts (LOGIN_MAX_FAILURES_PER_ADDRESS): caps one address trying many accounts.
 * Addresses are keyed by addressLimitKey (IPv6 by its /64).
 */
export interface LoginLimiter {
  /**
   * Reserves one attempt on every counter before the password is checked, so parallel guesses
   * cannot overshoot a limit. Returns the seconds to wait when any is used up (nothing is reserved
   * then), else 0. A failed attempt simply keeps its reservations.
   */
  reserve(account: string, address: string): Promise<number>;
  /**
   * The attempt succeeded: this address's failures for the account are cleared and the other
   * reservations given back (failures others made from elsewhere still count).
   */
  succeeded(account: string, address: string): Promise<void>;
  /** The attempt could not be decided (e.g. the server was busy): every reservation is given back. */
  release(account: string, address: string): Promise<void>;
}

export interface LoginLimits {
  maxFailuresPerAccount: number;
  maxFailuresPerAccountAllAddresses: number;
  maxFailuresPerAddress: number;
  windowSeconds: number;
}

// Unknown emails are counted exactly like known ones, so the lockout reveals nothing about which
// accounts exist; keys are hashed so the limiter holds no email addresses and has a fixed key size.
const normalised = (account: string) => account.trim().toLowerCase();
const accountKey = (account: string) => tokenHash(normalised(account));
const accountAddressKey = (account: string, address: string) => tokenHash(`${normalised(account)}\n${address}`);

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
  const { windowSeconds: duration } = limits;
  // The 'acct-addr' prefix is new: counters kept under the old 'acct' prefix (whole account) are ignored.
  const counters = [
    { limiter: factory({ keyPrefix: 'acct-addr', points: limits.maxFailuresPerAccount, duration }), max: limits.maxFailuresPerAccount },
    { limiter: factory({ keyPrefix: 'acct-all', points: limits.maxFailuresPerAccountAllAddresses, duration }), max: limits.maxFailuresPerAccountAllAddresses },
    { limiter: factory({ keyPrefix: 'addr', points: limits.maxFailuresPerAddress, duration }), max: limits.maxFailuresPerAddress },
  ] as const;

  // The counters and this attempt's key in each, in the order above.
  const slots = (account: string, address: string) => {
    const addr = addressLimitKey(address);
    const keys = [accountAddressKey(account, addr), accountKey(account), addr];
    return counters.map((c, i) => ({ ...c, key: keys[i]! }));
  };

  async function usedUp(limiter: RateLimiterAbstract, key: string, max: number): Promise<number> {
    const res = await limiter.get(key);
    return res && res.consumedPoints >= max ? seconds(res) : 0;
  }

  return {
    async reserve(account, address) {
      const all = slots(account, address);
      // Check first, so a locked account or address does not keep extending its own count.
      let wait = 0;
      for (const c of all) wait = Math.max(wait, await usedUp(c.limiter, c.key, c.max));
      if (wait > 0) return wait;
      for (const [i, c] of all.entries()) {
        const w = await take(c.limiter, c.key);
        if (w > 0) {
          // A parallel attempt took the last point: give back what this one already reserved.
          for (const r of all.slice(0, i)) await r.limiter.reward(r.key);
          return w;
        }
      }
      return 0;
    },
    async succeeded(account, address) {
      const [accountAddress, ...others] = slots(account, address);
      await accountAddress!.limiter.delete(accountAddress!.key);
      for (const c of others) await c.limiter.reward(c.key);
    },
    async release(account, address) {
      for (const c of slots(account, address)) await c.limiter.reward(c.key);
    },
  };
}
