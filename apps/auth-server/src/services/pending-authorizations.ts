import { RateLimiterRes } from 'rate-limiter-flexible';
import { addressLimitKey, memoryLimiters, type LimiterFactory } from '@stack/redis';
import { randomToken, tokenHash } from '@stack/crypto';
import { rateLimited, temporarilyUnavailable } from '@stack/oauth';
import type { PendingRequestRepo } from '../store/index.ts';
import type { AuthorizationRequest } from './authorization-request.ts';

export interface PendingLimits {
  /** New pending requests per client address per minute. */
  perMinute: number;
  /** Pending requests kept in all; when full, new ones are refused (never others' evicted). */
  max: number;
  ttlSeconds: number;
}

/**
 * Pending requests by a random id carried in the login and consent forms; bounded in number and
 * age. They live in the store (by the id's hash), so any instance can continue a request.
 *
 * GET /authorize needs no credentials, so creating one is rate limited per address, and a full
 * store refuses new requests (503) instead of dropping the oldest: a flood from a few addresses
 * must not end other people's sign-ins half way through.
 */
export class PendingAuthorizations {
  private readonly repo: PendingRequestRepo;
  private readonly now: () => number;
  private readonly limits: PendingLimits;
  private readonly limiter: ReturnType<LimiterFactory>;

  constructor(repo: PendingRequestRepo, now: () => number, limits: PendingLimits, factory: LimiterFactory = memoryLimiters) {
    this.repo = repo;
    this.now = now;
    this.limits = limits;
    this.limiter = factory({ keyPrefix: 'authorize', points: limits.perMinute, duration: 60 });
  }

  /** Stores a request for `address`; 429 rate_limited over the per-address limit, 503 when the store is full. */
  async add(req: AuthorizationRequest, address: string): Promise<string> {
    try {
      // Keyed like every address limit: IPv6 by its /64, IPv4-mapped as IPv4.
      await this.limiter.consume(addressLimitKey(address));
    } catch (res) {
      if (res instanceof RateLimiterRes) throw rateLimited(Math.max(1, Math.ceil(res.msBeforeNext / 1000)));
      throw res;
    }
    const id = randomToken(24);
    const t = this.now();
    const stored = await this.repo.add(tokenHash(id), { ...req }, t, t + this.limits.ttlSeconds * 1000, this.limits.max);
    if (!stored) throw temporarilyUnavailable('too many sign-ins are in progress', 30);
    return id;
  }

  async get(id: string | undefined): Promise<AuthorizationRequest | undefined> {
    if (!id || id.length > 100) return undefined;
    const stored = await this.repo.get(tokenHash(id), this.now());
    // JSON drops undefined members: state and clientHost come back absent, which reads the same.
    return stored as AuthorizationRequest | undefined;
  }

  async delete(id: string): Promise<void> {
    if (id.length <= 100) await this.repo.delete(tokenHash(id));
  }
}
