import {
  DPOP_SIGNING_ALGS, createDpopKeyCache, createMemoryJtiStore, createSignatureBatch, sharedDpopNonces, verifyDpopProof,
  type DpopKeyCache, type DpopNonces, type JtiStore, type SignatureBatch, type VerifiedDpopProof,
} from '@stack/oauth';
import { redisJtiStore, type SharedRedis } from '@stack/redis';
import type { Kek } from '@stack/crypto';
import type { AuthConfig } from '../config.ts';

/**
 * Live proofs held by one instance without Redis: the proof window is about a minute (DPOP_DEFAULTS),
 * so this is well above what one instance accepts per minute, and at about 150 bytes an entry it
 * stays under 20 MB. Full, it refuses new proofs with 503 (fails closed) rather than forget a jti.
 */
const MAX_LIVE_PROOFS = 100_000;
/** Distinct proof keys whose parsed header is kept (a client reuses one key for many proofs). */
const KEY_CACHE_ENTRIES = 1000;

/** DPoP at the token endpoint (RFC 9449 §5): the replay cache, the nonces when required, and a key cache. */
export interface TokenEndpointDpop {
  replay: JtiStore;
  /** Set when DPOP_NONCE=on (RFC 9449 §8). */
  nonces: DpopNonces | undefined;
  keyCache: DpopKeyCache;
  /** Proof signatures checked a turn of the event loop at a time (createSignatureBatch). */
  signatures: SignatureBatch;
}

/**
 * Built once by buildApp. Proof jtis go to Redis when REDIS_URL is set, so a proof accepted by one
 * instance is refused by every other (RFC 9449 §11.1), else to a bounded in-process store. Nonces
 * derive from the current key-encryption key (dpopNonceSecret): every instance, and the MCP app
 * when it has the same KEY_ENCRYPTION_KEY or DATA_DIR, issues and accepts the same nonces.
 */
export function createTokenEndpointDpop(config: AuthConfig, keks: readonly Kek[], redis: SharedRedis | undefined, now: () => number): TokenEndpointDpop {
  return {
    replay: redis ? redisJtiStore(redis, 'dpop-jti', now) : createMemoryJtiStore({ maxEntries: MAX_LIVE_PROOFS, now }),
    nonces: config.dpop.nonce ? sharedDpopNonces(keks[0]!.key, now) : undefined,
    keyCache: createDpopKeyCache(KEY_CACHE_ENTRIES),
    signatures: createSignatureBatch(),
  };
}

/**
 * The checked DPoP proof of a token request (RFC 9449 §4.3, §5), or undefined when the request has
 * no DPoP header (a bearer request, answered as before). `htu` is the token endpoint as the metadata
 * publishes it; a proof at the token endpoint has no `ath`. Refusals are 400 invalid_dpop_proof or
 * use_dpop_nonce (with the nonce for the DPoP-Nonce header).
 */
export function tokenRequestProof(
  dpop: TokenEndpointDpop, header: string | string[] | undefined, tokenEndpoint: string, now: () => number,
): Promise<VerifiedDpopProof> | undefined {
  if (header === undefined) return undefined;
  return verifyDpopProof(header, {
    htm: 'POST', htu: tokenEndpoint, algs: DPOP_SIGNING_ALGS, now, nonce: dpop.nonces, status: 400, keyCache: dpop.keyCache, signatures: dpop.signatures,
  }, dpop.replay);
}
