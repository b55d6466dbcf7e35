import { createHash } from 'node:crypto';
import type { SharedRedis } from './connection.ts';

/** The shape of @stack/oauth's JtiStore: false when the key was already remembered and is still live. */
export interface RedisJtiStore {
  remember(key: string, expiresAtMs: number): Promise<boolean>;
}

/**
 * A replay store shared by every instance (RFC 7523 §3 item 7: a jti is accepted once, whichever
 * instance sees it): one `SET key 1 PX ttl NX` per JWT, atomic in Redis, so of two instances given the
 * same JWT at once exactly one accepts it. Keys are SHA-256 of the caller's key (bounded size whatever
 * a client puts in its jti) and expire with the JWT. Fails closed: a Redis error is the 503
 * StoreUnavailableError, never an acceptance.
 */
export function redisJtiStore(redis: SharedRedis, keyPrefix: string, now: () => number = Date.now): RedisJtiStore {
  return {
    async remember(key, expiresAtMs) {
      const ttl = Math.ceil(expiresAtMs - now());
      if (ttl <= 0) return true; // already expired: nothing to protect, and verifiers refuse it anyway
      const k = `${redis.keyPrefix}${keyPrefix}:${createHash('sha256').update(key).digest('base64url')}`;
      try {
        return (await redis.client.set(k, '1', 'PX', ttl, 'NX')) === 'OK';
      } catch (err) {
        throw redis.unavailable(err);
      }
    },
  };
}
