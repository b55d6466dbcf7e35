import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import { tokenHash } from '@stack/crypto';
import { addressLimitKey, memoryLimiters, memoryWaitGates, secondsUntilReset, tryConsume, type LimiterFactory, type WaitGateFactory } from '@stack/redis';
import { normalisedAccount } from './login-devices.ts';

/**
 * Limits failed logins (RFC 9700 §4.1: slow down credential guessing) without letting the limits
 * themselves lock the real user out. Kept behind this interface so a shared (Redis) store can replace
 * the in-memory one without touching the login route.
 *
 * A sign-in carrying a valid device token for the account (a browser that signed in to it before, see
 * login-devices.ts) is counted only against that device's budget (LOGIN_MAX_FAILURES_PER_DEVICE):
 * whatever others do elsewhere, the real user's own browser keeps signing in.
 *
 * Any other sign-in ("unknown device") reserves, before the password is checked:
 * - account from one address (LOGIN_MAX_FAILURES_PER_ACCOUNT, tight): a guesser locks the account
 *   only for their own address;
 * - address across accounts (LOGIN_MAX_FAILURES_PER_ADDRESS): caps one address trying many accounts;
 * - account from all addresses (a signal, never a refusal): once it reaches
 *   LOGIN_MAX_FAILURES_PER_ACCOUNT_ALL_ADDRESSES the account is under attack, and every attempt on it
 *   from an unknown device waits first: `delaySeconds` (5 s, doubling with every further such number
 *   of failures, at most LOGIN_DELAY_MAX_SECONDS), per account and address. The first attempt from an
 *   address is answered "wait N s" without checking the password; once the wait is over the next one
 *   is checked, and a failure starts the next wait. So the right password from a new address signs in
 *   after at most LOGIN_DELAY_MAX_SECONDS, while each address's guesses at the account are spaced out.
 *   A refusal here would let anyone lock any account for everyone (ten addresses, five guesses each).
 *
 * Addresses are keyed by addressLimitKey with IPv6 by its /48 (LOGIN_IPV6_PREFIX): a /48 is what a
 * site, and so an attacker, is routinely given (RFC 6177); keyed by /64, one /60 already held sixteen
 * budgets. Client authentication and registration keep /64.
 */
export interface LoginLimiter {
  /**
   * Reserves this attempt on its counters before the password is checked, so parallel guesses cannot
   * overshoot a limit. Nothing is reserved when the answer is not 'check'. A failed attempt simply
   * keeps its reservations.
   */
  reserve(attempt: LoginAttempt): Promise<LoginVerdict>;
}

export interface LoginAttempt {
  account: string;
  address: string;
  /** The device id of a valid device token for this account, if the browser sent one. */
  device?: string | undefined;
}

export type LoginVerdict =
  | {
      outcome: 'check';
      /** The password was right: this attempt's failures are cleared and the other reservations given back. */
      succeeded(): Promise<void>;
      /** The attempt could not be decided (e.g. the server was busy): every reservation is given back. */
      release(): Promise<void>;
    }
  /** A budget of this address (or device) is used up: refused until the window ends. */
  | { outcome: 'locked'; retryAfter: number }
  /** The account is under attack: this address may try again (and will be checked) after `retryAfter` seconds. */
  | { outcome: 'delayed'; retryAfter: number };

export interface LoginLimits {
  maxFailuresPerAccount: number;
  /** Failures on one account from all addresses (unknown devices) at which attempts are delayed. */
  maxFailuresPerAccountAllAddresses: number;
  maxFailuresPerAddress: number;
  maxFailuresPerDevice: number;
  /** The longest delay an account under attack imposes on an attempt from an unknown device. */
  maxDelaySeconds: number;
  windowSeconds: number;
}

/** The IPv6 prefix failed logins are counted by (see the comment on LoginLimiter). */
export const LOGIN_IPV6_PREFIX = 48;
/** The first delay once an account is under attack; it doubles with every further threshold's worth of failures. */
export const FIRST_DELAY_SECONDS = 5;
/** How long a finished wait stays valid: the lifetime of a pending sign-in, so the person can come back to the form. */
const GATE_KEEP_SECONDS = 600;

/** The delay before an attempt from an unknown device, given the account's failures from all addresses. */
export function delaySeconds(limits: LoginLimits, accountFailures: number): number {
  const tier = Math.floor(accountFailures / limits.maxFailuresPerAccountAllAddresses);
  if (tier < 1) return 0;
  return Math.min(limits.maxDelaySeconds, FIRST_DELAY_SECONDS * 2 ** Math.min(tier - 1, 20));
}

// Unknown emails are counted exactly like known ones, so the limits reveal nothing about which
// accounts exist; keys are hashed so the limiter holds no email addresses and has a fixed key size.
const accountKey = (account: string) => tokenHash(normalisedAccount(account));
const accountAddressKey = (account: string, address: string) => tokenHash(`${normalisedAccount(account)}\n${address}`);
const deviceKey = (account: string, device: string) => tokenHash(`${normalisedAccount(account)}\n${device}`);

/** 0 when a point was taken, else the seconds until the used-up limit has one again. */
async function take(limiter: RateLimiterAbstract, key: string): Promise<number> {
  const res = await tryConsume(limiter, key);
  return typeof res === 'number' ? res : 0;
}

async function usedUp(limiter: RateLimiterAbstract, key: string, max: number): Promise<number> {
  const res = await limiter.get(key);
  return res && res.consumedPoints >= max ? secondsUntilReset(res) : 0;
}

/** An in-process limiter (one server instance); fixed windows of `windowSeconds` from the first attempt. */
export function createMemoryLoginLimiter(limits: LoginLimits, now: () => number = Date.now): LoginLimiter {
  return createLoginLimiter(limits, memoryLimiters, memoryWaitGates, now);
}

/**
 * The login limiter over limiters and gates from the factories (in process, or Redis so the counts
 * and waits hold across instances; a Redis failure rejects with StoreUnavailableError, a 503, and
 * the attempt is refused). `now` times the delays.
 */
export function createLoginLimiter(limits: LoginLimits, factory: LimiterFactory, gates: WaitGateFactory, now: () => number): LoginLimiter {
  const { windowSeconds: duration } = limits;
  // The 'acct-addr' prefix is new: counters kept under the old 'acct' prefix (whole account) are ignored.
  const perAccountAddress = { limiter: factory({ keyPrefix: 'acct-addr', points: limits.maxFailuresPerAccount, duration }), max: limits.maxFailuresPerAccount };
  // A signal only: never used up, so consume() never refuses.
  const perAccount = { limiter: factory({ keyPrefix: 'acct-all', points: Number.MAX_SAFE_INTEGER, duration }), max: Number.MAX_SAFE_INTEGER };
  const perAddress = { limiter: factory({ keyPrefix: 'addr', points: limits.maxFailuresPerAddress, duration }), max: limits.maxFailuresPerAddress };
  const perDevice = { limiter: factory({ keyPrefix: 'device', points: limits.maxFailuresPerDevice, duration }), max: limits.maxFailuresPerDevice };
  const gate = gates({ keyPrefix: 'login-wait' });
  const keepMs = GATE_KEEP_SECONDS * 1000;

  async function knownDevice(account: string, device: string): Promise<LoginVerdict> {
    const key = deviceKey(account, device);
    const wait = (await usedUp(perDevice.limiter, key, perDevice.max)) || (await take(perDevice.limiter, key));
    if (wait > 0) return { outcome: 'locked', retryAfter: wait };
    return {
      outcome: 'check',
      succeeded: async () => void (await perDevice.limiter.delete(key)),
      release: async () => void (await perDevice.limiter.reward(key)),
    };
  }

  async function unknownDevice(account: string, address: string): Promise<LoginVerdict> {
    const addr = addressLimitKey(address, LOGIN_IPV6_PREFIX);
    const all = [
      { ...perAccountAddress, key: accountAddressKey(account, addr) },
      { ...perAccount, key: accountKey(account) },
      { ...perAddress, key: addr },
    ];
    // Check first, so a locked address does not keep extending its own count.
    let wait = 0;
    for (const c of [all[0]!, all[2]!]) wait = Math.max(wait, await usedUp(c.limiter, c.key, c.max));
    if (wait > 0) return { outcome: 'locked', retryAfter: wait };

    const gateKey = all[0]!.key;
    const failures = (await perAccount.limiter.get(all[1]!.key))?.consumedPoints ?? 0;
    const delay = delaySeconds(limits, failures);
    if (delay > 0) {
      const t = now();
      const readyAt = await gate.pass(gateKey, t, delay * 1000, keepMs);
      if (readyAt > 0) return { outcome: 'delayed', retryAfter: Math.max(1, Math.ceil((readyAt - t) / 1000)) };
    }

    for (const [i, c] of all.entries()) {
      const w = await take(c.limiter, c.key);
      if (w > 0) {
        // A parallel attempt took the last point: give back what this one already reserved.
        for (const r of all.slice(0, i)) await r.limiter.reward(r.key);
        return { outcome: 'locked', retryAfter: w };
      }
    }
    return {
      outcome: 'check',
      async succeeded() {
        await all[0]!.limiter.delete(all[0]!.key);
        for (const c of all.slice(1)) await c.limiter.reward(c.key);
        await gate.delete(gateKey);
      },
      async release() {
        for (const c of all) await c.limiter.reward(c.key);
        // The wait this attempt passed was not used: the next attempt need not wait again.
        if (delay > 0) await gate.open(gateKey, now(), keepMs);
      },
    };
  }

  return {
    reserve: ({ account, address, device }) => (device === undefined ? unknownDevice(account, address) : knownDevice(account, device)),
  };
}
