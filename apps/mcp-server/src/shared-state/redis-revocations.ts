import { randomUUID } from 'node:crypto';
import { fetchRevocationFeed, revocationSince, type RevocationList } from '@stack/mcp-auth';
import { createLogThrottle, type RedisLog, type SharedRedis } from '@stack/redis';

export interface RedisRevocationsOptions {
  redis: SharedRedis;
  /** The authorization server's revocation feed (GET /revocations). */
  feedUrl: string;
  /** How often an instance tries to take the sync turn. */
  syncMs: number;
  log: RedisLog;
  fetch?: typeof fetch;
  now?: () => number;
}

/** The revocation list shared by every MCP-server instance on one Redis. */
export type RedisRevocations = RevocationList & {
  start(): void;
  stop(): Promise<void>;
  /** One sync turn: returns true when this instance held the lease and copied the feed into Redis. */
  sync(): Promise<boolean>;
};

const MAX_PAGES = 20;
const WRITE_CHUNK = 1000;
const LOCAL_MAX = 10_000;

/**
 * Revoked jtis kept in Redis, one key per jti that expires with its token (`<prefix>revoked:<jti>`,
 * value the token's expiry in ms), so every instance sees one list and it never outgrows the live
 * tokens. One instance at a time copies the authorization server's feed into Redis: each tick an
 * instance tries to take a lease (SET NX PX, 80 % of the interval) and the holder fetches the feed
 * from the shared cursor. The feed is the authorization server's record of every revocation (the
 * revoke endpoint, refresh-token reuse, the admin CLI), so nothing needs publishing.
 *
 * Delay: the lease expires before its holder's next tick, so the feed is read at least every
 * `syncMs` while any instance is up, and within 2 × `syncMs` when the holder dies; a revocation is
 * therefore refused by every instance within 2 × `syncMs` (the advertised delay).
 *
 * Each request asks Redis (GET) unless this instance already knows the jti is revoked (a small
 * local cache of positive answers, safe to keep until the token expires). When Redis cannot
 * answer, isRevoked throws the 503 from `redis.unavailable`: the request is refused, never allowed.
 */
export function createRedisRevocations(opts: RedisRevocationsOptions): RedisRevocations {
  const { redis } = opts;
  const client = redis.client;
  const doFetch = opts.fetch ?? fetch;
  const now = opts.now ?? Date.now;
  const p = redis.keyPrefix;
  const revokedKey = (jti: string) => `${p}revoked:${jti}`;
  const cursorKey = `${p}revocations:cursor`;
  const leaseKey = `${p}revocations:lease`;
  const leaseMs = Math.max(50, Math.floor(opts.syncMs * 0.8));
  const instance = randomUUID();
  const known = new Map<string, number>(); // jti → expiresAt (ms), positive answers only
  const throttle = createLogThrottle(30_000, now);
  let timer: NodeJS.Timeout | undefined;
  let pending: Promise<boolean> | undefined;

  function remember(jti: string, expiresAt: number): void {
    if (known.size >= LOCAL_MAX) known.delete(known.keys().next().value!);
    known.set(jti, expiresAt);
  }

  async function store(entries: readonly { jti: string; expiresAt: number }[]): Promise<void> {
    const t = now();
    const live = entries.filter((e) => e.expiresAt > t);
    for (let i = 0; i < live.length; i += WRITE_CHUNK) {
      const batch = client.pipeline();
      for (const e of live.slice(i, i + WRITE_CHUNK)) batch.set(revokedKey(e.jti), String(e.expiresAt), 'PXAT', e.expiresAt);
      const results = (await batch.exec()) ?? [];
      const failed = results.find(([err]) => err)?.[0];
      if (failed) throw failed;
    }
  }

  async function syncOnce(): Promise<boolean> {
    if ((await client.set(leaseKey, instance, 'PX', leaseMs, 'NX')) !== 'OK') return false;
    // The cursor is the highest `next` the feed returned; each turn re-reads the overlap before it
    // (REVOCATION_OVERLAP_MS), so a revocation committed late with an earlier revokedAt is still fetched.
    const stored = await client.get(cursorKey);
    let mark = stored === null ? undefined : Number(stored) || 0;
    let since = revocationSince(mark);
    for (let page = 0; page < MAX_PAGES; page++) {
      const startedAt = now();
      let feed;
      try {
        feed = await fetchRevocationFeed(doFetch, opts.feedUrl, since);
      } catch (err) {
        // The list in Redis stays as it was (as with one instance's poller); say so once per interval.
        if (throttle.due('feed')) opts.log.error(`revocation feed unavailable: ${(err as Error).message.slice(0, 200)}`);
        return true;
      }
      throttle.reset('feed');
      await store(feed.revoked);
      // Prefer the server's cursor (its clock); without one this turn's start (the overlap then covers skew).
      const next = feed.next ?? startedAt;
      mark = Math.max(mark ?? 0, next);
      await client.set(cursorKey, String(mark));
      if (feed.complete !== false || next <= since) break;
      since = next;
    }
    return true;
  }

  function sync(): Promise<boolean> {
    pending ??= syncOnce()
      .catch((err: unknown) => {
        // Redis is down: requests are refused by isRevoked meanwhile; the next tick tries again.
        redis.unavailable(err);
        return false;
      })
      .finally(() => {
        pending = undefined;
      });
    return pending;
  }

  return {
    async isRevoked(jti) {
      const t = now();
      const exp = known.get(jti);
      if (exp !== undefined) {
        if (exp > t) return true;
        known.delete(jti);
      }
      let value: string | null;
      try {
        value = await client.get(revokedKey(jti));
      } catch (err) {
        throw redis.unavailable(err);
      }
      if (value === null) return false;
      const expiresAt = Number(value);
      if (Number.isFinite(expiresAt) && expiresAt > t) remember(jti, expiresAt);
      return true;
    },
    sync,
    start() {
      if (timer) return;
      void sync();
      timer = setInterval(() => void sync(), opts.syncMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await pending;
    },
  };
}
