import { addressLimitKey, consumeOr429, tryConsume, type LimiterFactory } from '@stack/redis';
import { invalidClient, rateLimited, temporarilyUnavailable, type OAuthError } from '@stack/oauth';
import type { AuthConfig } from '../config.ts';
import type { ClientRecord } from '../store/index.ts';
import { FetchSlots } from './fetch-slots.ts';

// Each fetch holds a socket and a timer. Past this many at once, callers wait (bounded) for a slot.
const MAX_CONCURRENT_FETCHES = 16;
// One host's documents hold at most this many of those slots: slow documents on one host cannot
// take them all from everyone else's sign-ins.
const MAX_CONCURRENT_PER_HOST = 2;
const MAX_WAITING = 64;
const MAX_WAITING_PER_HOST = 8;
const RETRY_AFTER_SECONDS = 5;
// Failed fetches remembered at once; the oldest is forgotten first (a forgotten one is refetched).
const MAX_REMEMBERED_FAILURES = 10_000;
// A distinct-host count is kept per address for this long.
const HOSTS_WINDOW_SECONDS = 3600;

/** A failed resolution remembered for a while (the negative cache), so repeats cost no fetch. */
export interface RememberedFailure {
  error: OAuthError;
  /** Network, timeout or 5xx: a stale copy may still be served meanwhile. */
  transient: boolean;
  until: number;
}

/**
 * The state behind Client ID Metadata Document resolution: who may make the server fetch what and
 * how often, the fetch slots, failures remembered for CIMD_FAILURE_CACHE_SECONDS and fetches under
 * way. Created by buildApp and closed with it.
 */
export interface CimdFetchGuard {
  /** Resolutions under way by URL: concurrent requests for one document share one fetch. */
  readonly inFlight: Map<string, Promise<ClientRecord>>;
  readonly slots: FetchSlots;
  /** Aborted on close: fetches in flight end at once instead of at their deadline. */
  readonly signal: AbortSignal;
  /** Throws invalid_client when CIMD_ALLOWED_HOSTS is set and does not list the document's host. */
  checkHost(url: URL): void;
  recentFailure(url: string, now: number): RememberedFailure | undefined;
  rememberFailure(url: string, failure: RememberedFailure): void;
  /**
   * Counts one new fetch: per client address (fetches per minute, and distinct hosts per hour) and
   * per document host (fetches per minute). Throws 429 rate_limited when the address is over its
   * budget, 503 temporarily_unavailable when the host is. `address` is undefined only for work not
   * done on behalf of a network caller.
   */
  admit(address: string | undefined, url: URL): Promise<void>;
  close(): void;
}

/** Hostname patterns: `example.com` is that host only, `*.example.com` any host below it (not itself). */
function hostMatcher(patterns: readonly string[]): ((hostname: string) => boolean) | undefined {
  if (patterns.length === 0) return undefined;
  const exact = new Set(patterns.filter((p) => !p.startsWith('*.')));
  const suffixes = patterns.filter((p) => p.startsWith('*.')).map((p) => p.slice(1));
  return (hostname) => exact.has(hostname) || suffixes.some((s) => hostname.endsWith(s));
}

export function createCimdFetchGuard(cimd: AuthConfig['cimd'], limiters: LimiterFactory): CimdFetchGuard {
  // In Redis when REDIS_URL is set, so instances share the budgets; the slots, the failure cache and
  // the fetches under way are per instance (they guard this process's sockets).
  const perAddress = limiters({ keyPrefix: 'cimd-fetch-address', points: cimd.fetchesPerAddressPerMinute, duration: 60 });
  // First sight of a host from an address: consumedPoints is 1 only for the first in the window.
  const seenHosts = limiters({ keyPrefix: 'cimd-seen-host', points: 1_000_000, duration: HOSTS_WINDOW_SECONDS });
  const hostsPerAddress = limiters({ keyPrefix: 'cimd-hosts-address', points: cimd.hostsPerAddressPerHour, duration: HOSTS_WINDOW_SECONDS });
  const perHost = limiters({ keyPrefix: 'cimd-fetch-host', points: cimd.fetchesPerHostPerMinute, duration: 60 });
  const allowed = hostMatcher(cimd.allowedHosts);
  const failures = new Map<string, RememberedFailure>();
  const slots = new FetchSlots({
    total: MAX_CONCURRENT_FETCHES,
    perHost: MAX_CONCURRENT_PER_HOST,
    maxWaiting: MAX_WAITING,
    maxWaitingPerHost: MAX_WAITING_PER_HOST,
    maxWaitMs: cimd.queueWaitMs,
    retryAfterSeconds: RETRY_AFTER_SECONDS,
  });

  const closing = new AbortController();

  return {
    inFlight: new Map(),
    slots,
    signal: closing.signal,
    checkHost(url) {
      if (allowed && !allowed(url.hostname)) throw invalidClient('client metadata documents from this host are not accepted by this server');
    },
    recentFailure(url, now) {
      const f = failures.get(url);
      if (f && f.until <= now) failures.delete(url);
      return f && f.until > now ? f : undefined;
    },
    rememberFailure(url, failure) {
      failures.delete(url);
      if (failures.size >= MAX_REMEMBERED_FAILURES) failures.delete(failures.keys().next().value!);
      failures.set(url, failure);
    },
    async admit(address, url) {
      const host = url.hostname;
      // What was counted so far is given back when a later check refuses: a refused request uses
      // up no budget (the distinct-host one especially: a refused host must not count as seen).
      const undo: (() => Promise<unknown>)[] = [];
      try {
        if (address !== undefined) {
          const key = addressLimitKey(address);
          await consumeOr429(perAddress, key, rateLimited);
          undo.push(() => perAddress.reward(key));
          const seen = await consumeOr429(seenHosts, `${key}|${host}`, rateLimited);
          if (seen.consumedPoints === 1) {
            undo.push(() => seenHosts.delete(`${key}|${host}`));
            await consumeOr429(hostsPerAddress, key, rateLimited);
            undo.push(() => hostsPerAddress.reward(key));
          }
        }
        // The host, not this caller, is over its budget: 503 rather than 429.
        const wait = await tryConsume(perHost, host);
        if (typeof wait === 'number') throw temporarilyUnavailable('too many client metadata documents were fetched from this host, retry later', wait);
      } catch (err) {
        for (const u of undo.reverse()) await u().catch(() => {});
        throw err;
      }
    },
    close() {
      closing.abort();
      slots.close();
      failures.clear();
    },
  };
}
