import { fetchJson } from './fetch-json.ts';
import { singleFlight } from './single-flight.ts';

/**
 * A set of revoked access-token ids (`jti`), consulted on every request. A shared list (Redis) answers
 * asynchronously and may throw (a 503 StoreUnavailableError from Redis) when it cannot answer: the token is then refused.
 */
export type RevocationList = { isRevoked(jti: string): boolean | Promise<boolean> };

/** A fixed revocation list, for tests and for a server without a revocation feed. */
export function createStaticRevocationList(jtis: Iterable<string>): RevocationList {
  const set = new Set(jtis);
  return { isRevoked: (jti) => set.has(jti) };
}

export interface RevocationPollerOptions {
  /** Revocation feed of the authorization server; `?since=<ms>` is appended. */
  url: string;
  intervalMs: number;
  fetch?: typeof fetch;
  now?: () => number;
  onError?: (err: unknown) => void;
  /** Upper bound on remembered jtis; the ones expiring soonest are dropped first. Default 100000. */
  maxEntries?: number;
}

export type RevocationPoller = { isRevoked(jti: string): boolean } & {
  /** Polls now and then every `intervalMs` (the timer does not keep the process alive). */
  start(): void;
  stop(): void;
  /** Polls once (following `complete: false` pages). Never rejects: on failure the previous list is kept and `onError` is called. */
  refresh(): Promise<void>;
};

const MAX_BODY_BYTES = 5 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 5_000;
const MAX_JTI_LENGTH = 256;
/**
 * Each poll re-reads this far before the highest cursor seen. `revokedAt` is taken by whichever
 * process revoked (an auth-server instance, the admin CLI) before its transaction commits, so a
 * revocation can become visible after a poll that already returned later ones: a slow transaction,
 * or instances whose clocks differ. Without the overlap such a revocation would never be fetched.
 * Entries seen twice are harmless (the list is a set). Assumes a revocation commits, and clocks
 * agree, within a minute.
 */
export const REVOCATION_OVERLAP_MS = 60_000;
const MAX_PAGES = 20;

/**
 * Polls the authorization server's revocation feed (`GET url?since=<ms>` answering
 * `{ revoked: [{ jti, expiresAt }], next?, complete? }`, times in ms; `next` is the cursor for the
 * following poll and `complete: false` means more entries are waiting). A jti is remembered until
 * its token expires: after that the token is rejected on `exp` anyway.
 */
export function createRevocationPoller(opts: RevocationPollerOptions): RevocationPoller {
  if (!(opts.intervalMs > 0)) throw new TypeError('intervalMs must be a positive number');
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const maxEntries = opts.maxEntries ?? 100_000;
  const revoked = new Map<string, number>(); // jti → expiresAt (ms)
  let mark: number | undefined; // the highest cursor the feed has returned
  let timer: NodeJS.Timeout | undefined;

  function prune(): void {
    const t = now();
    for (const [jti, exp] of revoked) if (exp <= t) revoked.delete(jti);
    if (revoked.size <= maxEntries) return;
    const bySoonest = [...revoked].sort((a, b) => a[1] - b[1]);
    for (const [jti] of bySoonest.slice(0, revoked.size - maxEntries)) revoked.delete(jti);
  }

  async function poll(): Promise<void> {
    const startedAt = now();
    let since = revocationSince(mark);
    for (let page = 0; page < MAX_PAGES; page++) {
      const feed = await fetchRevocationFeed(doFetch, opts.url, since);
      const t = now();
      for (const e of feed.revoked) if (e.expiresAt > t) revoked.set(e.jti, e.expiresAt);
      prune();
      // Prefer the server's own cursor (its clock); without one, this poll's start (the overlap
      // then also covers clock skew between the two servers).
      const next = feed.next ?? startedAt;
      mark = Math.max(mark ?? 0, next);
      if (feed.complete !== false || next <= since) return;
      since = next; // the server cut the list at its limit: fetch the rest now
    }
  }

  const refresh = singleFlight(poll, (err) => opts.onError?.(err)).run;

  return {
    isRevoked(jti) {
      const exp = revoked.get(jti);
      return exp !== undefined && exp > now();
    },
    refresh,
    start() {
      if (timer) return;
      void refresh();
      timer = setInterval(() => void refresh(), opts.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
    },
  };
}

/** Where a poll starts: the overlap before the highest cursor seen (`undefined`: from the beginning). */
export function revocationSince(mark: number | undefined): number {
  return mark === undefined ? 0 : Math.max(0, mark - REVOCATION_OVERLAP_MS);
}

/** One page of the revocation feed; malformed entries are dropped. */
export interface RevocationFeedPage {
  revoked: Array<{ jti: string; expiresAt: number }>;
  next: number | undefined;
  complete: boolean | undefined;
}

/** GETs one page of the feed at `url?since=<ms>` (size and time limited, no redirects). */
export async function fetchRevocationFeed(doFetch: typeof fetch, feedUrl: string, since: number): Promise<RevocationFeedPage> {
  const url = new URL(feedUrl);
  url.searchParams.set('since', String(since));
  return parseFeed(await fetchJson(doFetch, url, { maxBytes: MAX_BODY_BYTES, timeoutMs: FETCH_TIMEOUT_MS }));
}

function parseFeed(body: unknown): RevocationFeedPage {
  const b = (body ?? {}) as { revoked?: unknown; next?: unknown; complete?: unknown };
  if (!Array.isArray(b.revoked)) throw new Error("revocation feed response has no 'revoked' array");
  const revoked: RevocationFeedPage['revoked'] = [];
  for (const e of b.revoked as unknown[]) {
    const { jti, expiresAt } = (e ?? {}) as { jti?: unknown; expiresAt?: unknown };
    // A malformed entry is skipped rather than failing the whole update.
    if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH) continue;
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) continue;
    revoked.push({ jti, expiresAt });
  }
  return {
    revoked,
    next: Number.isSafeInteger(b.next) && (b.next as number) >= 0 ? (b.next as number) : undefined,
    complete: typeof b.complete === 'boolean' ? b.complete : undefined,
  };
}
