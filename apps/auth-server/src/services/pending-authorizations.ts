import { addressLimitKey, consumeOr429, memoryLimiters, type LimiterFactory } from '@stack/redis';
import { randomToken, safeEqual, tokenHash } from '@stack/crypto';
import { rateLimited } from '@stack/oauth';
import type { PendingRequestRepo } from '../store/index.ts';
import type { AuthorizationRequest } from './authorization-request.ts';

export interface PendingLimits {
  /** New pending requests per client address per minute. */
  perMinute: number;
  /** Live pending requests per client address; a new one replaces that address's oldest. */
  maxPerAddress: number;
  /** Pending requests kept in all; when full, a new one replaces the oldest of the address holding most. */
  max: number;
  ttlSeconds: number;
}

/**
 * Pending requests are counted per address with IPv6 by its /48: what a site, and so one flooder, is
 * routinely given (RFC 6177). By /64 one /48 would hold 65536 caps and could fill the whole store.
 */
export const PENDING_IPV6_PREFIX = 48;

/** A live pending request, and whether the browser asking is the one that started it. */
export interface PendingLookup {
  request: AuthorizationRequest;
  sameBrowser: boolean;
}

/**
 * Pending requests by a random id carried in the login and consent forms; bounded in number and
 * age. They live in the store (by the id's hash), so any instance can continue a request.
 *
 * GET /authorize needs no credentials, so creating one is rate limited per address, and the live
 * ones are capped per address: a new one replaces that address's oldest. A full store is never a
 * refusal either: a new request replaces the oldest of the address holding the most. So a flood
 * from a few addresses only ever churns through its own requests; it neither ends other people's
 * sign-ins half way through nor stops anyone from starting one.
 *
 * Each request is bound to the browser that started it (RFC 9700 §4.7, CSRF): only the hash of that
 * browser's binding cookie is stored, and login and consent continue a request only for the same
 * browser. Otherwise anyone could start a request with their own PKCE challenge and send the login
 * link to a victim, whose sign-in and consent would then complete the attacker's request.
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

  /**
   * Stores a request started by `address` in the browser holding `browserBinding` (room is made as
   * described above); 429 rate_limited over the per-address rate.
   */
  async add(req: AuthorizationRequest, address: string, browserBinding: string): Promise<string> {
    const addressKey = addressLimitKey(address, PENDING_IPV6_PREFIX);
    await consumeOr429(this.limiter, addressKey, rateLimited);
    const id = randomToken(24);
    const t = this.now();
    const caps = { perAddress: this.limits.maxPerAddress, max: this.limits.max };
    await this.repo.add(tokenHash(id), { ...req }, tokenHash(browserBinding), addressKey, t, t + this.limits.ttlSeconds * 1000, caps);
    return id;
  }

  /** The live request `id`; `sameBrowser` compares `browserBinding`'s hash with the stored one in constant time. */
  async get(id: string | undefined, browserBinding: string | undefined): Promise<PendingLookup | undefined> {
    if (!id || id.length > 100) return undefined;
    const stored = await this.repo.get(tokenHash(id), this.now());
    if (!stored) return undefined;
    // A request stored before binding existed (null) or a browser without the cookie never matches.
    const sameBrowser = stored.bindingHash !== null && browserBinding !== undefined && safeEqual(tokenHash(browserBinding), stored.bindingHash);
    // JSON drops undefined members: state and clientHost come back absent, which reads the same.
    return { request: stored.request as unknown as AuthorizationRequest, sameBrowser };
  }

  async delete(id: string): Promise<void> {
    if (id.length <= 100) await this.repo.delete(tokenHash(id));
  }
}
