import type { SharedRedis } from './connection.ts';

/**
 * A per-key "not before" time, read and moved atomically: what a delay (rather than a refusal)
 * needs. Times are the caller's clock in ms, passed in, so one clock (injectable in tests) decides;
 * the store's own expiry only collects entries nobody came back for.
 */
export interface WaitGate {
  /**
   * One atomic step for `key`: without a gate, one is set ready at `now + delayMs` and that time is
   * returned (the caller must wait); a gate not yet ready returns its ready time; a ready gate lets
   * this caller through (returns 0) and is set again to `now + delayMs` for the next one. A gate is
   * kept `keepMs` after its ready time, then forgotten (the next caller finds none).
   */
  pass(key: string, now: number, delayMs: number, keepMs: number): Promise<number>;
  /** Sets the gate ready now (kept `keepMs`): the next caller passes without waiting. */
  open(key: string, now: number, keepMs: number): Promise<void>;
  delete(key: string): Promise<void>;
}

export interface WaitGateOptions {
  /** Distinguishes this gate's keys from other gates' and limiters'. */
  keyPrefix: string;
  /** In process only: the most keys kept (oldest forgotten first, which only ever costs a new wait). Default 100000. */
  maxKeys?: number;
}

export type WaitGateFactory = (opts: WaitGateOptions) => WaitGate;

/** In-process gates: one instance only. Bounded in keys, expired keys dropped as new ones come. */
export const memoryWaitGates: WaitGateFactory = (opts) => {
  const max = opts.maxKeys ?? 100_000;
  // Insertion order is (re)set order, so the first entries are the oldest.
  const gates = new Map<string, { readyAt: number; expiresAt: number }>();
  // Drops the oldest entries while over the bound or expired, then (re)sets `key` as the newest.
  const put = (key: string, readyAt: number, expiresAt: number, now: number) => {
    gates.delete(key);
    for (const [k, g] of gates) {
      if (gates.size < max && g.expiresAt > now) break;
      gates.delete(k);
    }
    gates.set(key, { readyAt, expiresAt });
  };
  return {
    async pass(key, now, delayMs, keepMs) {
      const g = gates.get(key);
      if (g && g.expiresAt > now && g.readyAt > now) return g.readyAt;
      const live = g !== undefined && g.expiresAt > now;
      put(key, now + delayMs, now + delayMs + keepMs, now);
      return live ? 0 : now + delayMs;
    },
    async open(key, now, keepMs) {
      put(key, now, now + keepMs, now);
    },
    async delete(key) {
      gates.delete(key);
    },
  };
};

// KEYS[1] the gate; ARGV: now, the ready time to set, its lifetime in ms. Returns the ready time to
// wait for, or '0' when the caller may pass (the gate is then set again).
const PASS = `
local v = redis.call('GET', KEYS[1])
if v and tonumber(v) > tonumber(ARGV[1]) then return v end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if v then return '0' end
return ARGV[2]
`;

/**
 * Gates kept in Redis, so every instance sees one gate per key; each step is one Lua script (atomic).
 * Fails closed like the limiters: a store error rejects with the StoreUnavailableError from `redis.unavailable`.
 */
export function redisWaitGates(redis: SharedRedis): WaitGateFactory {
  return (opts) => {
    const k = (key: string) => `${redis.keyPrefix}${opts.keyPrefix}:${key}`;
    const fail = (err: unknown): never => {
      throw redis.unavailable(err);
    };
    return {
      async pass(key, now, delayMs, keepMs) {
        const readyAt = Math.ceil(now + delayMs);
        const ttl = Math.max(1, Math.ceil(delayMs + keepMs));
        const r = await redis.client.eval(PASS, 1, k(key), String(now), String(readyAt), String(ttl)).catch(fail);
        return Number(r);
      },
      async open(key, now, keepMs) {
        await redis.client.set(k(key), String(Math.floor(now)), 'PX', Math.max(1, Math.ceil(keepMs))).catch(fail);
      },
      async delete(key) {
        await redis.client.del(k(key)).catch(fail);
      },
    };
  };
}
