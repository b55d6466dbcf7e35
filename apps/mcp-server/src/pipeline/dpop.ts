import {
  DPOP_SIGNING_ALGS, createDpopKeyCache, createMemoryJtiStore, createSignatureBatch, sharedDpopNonces, verifyDpopProof,
  type DpopKeyCache, type DpopNonces, type ExpectedHtu, type JtiStore, type SignatureBatch,
} from '@stack/oauth';
import { redisJtiStore, type SharedRedis } from '@stack/redis';
import type { DpopMode } from '@stack/stack-config';

/**
 * The proof algorithms a resource accepts (RFC 9449 §7.1 `algs`, RFC 9728 §2
 * `dpop_signing_alg_values_supported`): the authorization server's, so a key it binds a token to
 * signs proofs every MCP server takes.
 */
export const DPOP_ALGS: readonly string[] = DPOP_SIGNING_ALGS;

/** Distinct proof keys whose checked header is kept (a client reuses one key for many proofs). */
const KEY_CACHE_ENTRIES = 1000;

/** What one request presents for a DPoP check. */
export interface DpopRequest {
  /** The `DPoP` header(s) as the framework gives them. */
  proof: string | readonly string[] | undefined;
  /** The request method (`htm`). */
  method: string;
  /** The server's configured resource URL (`htu`): what the client addressed, whatever Host the request came with; normalised once per server (expectedHtu). */
  htu: string | ExpectedHtu;
  /** The access token the proof must name (`ath`). */
  accessToken: string;
}

/** The app's DPoP proof checks at its protected resources (RFC 9449 §7). */
export interface ResourceDpop {
  algs: readonly string[];
  /** With server nonces on: the current one, sent on every DPoP answer so a client rarely meets a use_dpop_nonce (RFC 9449 §8.2, §9). */
  nonce?: (() => string) | undefined;
  /** Checks a proof (RFC 9449 §4.3, with the nonce when configured, 401 errors) and returns its key's thumbprint. */
  verify(req: DpopRequest): Promise<string>;
}

export interface ResourceDpopOptions {
  /** Where accepted proofs' `jti`s are kept; every instance behind one URL must share it (else a proof replayed to another instance is accepted once more there). */
  replay: JtiStore;
  keyCache: DpopKeyCache;
  /** Checks proof signatures a turn of the event loop at a time (less CPU per proof under load); unset, one by one. */
  signatures?: SignatureBatch | undefined;
  /** Set: every proof must carry a current server nonce (RFC 9449 §9). */
  nonces?: DpopNonces | undefined;
  now: () => number;
}

export function createResourceDpop(opts: ResourceDpopOptions): ResourceDpop {
  const nonces = opts.nonces;
  return {
    algs: DPOP_ALGS,
    nonce: nonces ? () => nonces.current() : undefined,
    async verify(req) {
      const { jkt } = await verifyDpopProof(req.proof, {
        htm: req.method,
        htu: req.htu,
        accessToken: req.accessToken,
        nonce: opts.nonces,
        algs: DPOP_ALGS,
        now: opts.now,
        status: 401,
        keyCache: opts.keyCache,
        signatures: opts.signatures,
      }, opts.replay);
      return jkt;
    },
  };
}

export interface DpopSettings {
  /** MCP_DPOP_NONCE: require server nonces in proofs. */
  nonce: boolean;
  /** MCP_DPOP_REPLAY_MAX_ENTRIES: live proof `jti`s the in-process replay store holds (without Redis). */
  replayMaxEntries: number;
}

export interface AppDpopDeps {
  now: () => number;
  /** The current key-encryption key, read only when nonces are on: they derive from it (sharedDpopNonces). */
  keyEncryptionKey: () => Uint8Array;
  /** Shared state (REDIS_URL): proof `jti`s go there, so a proof accepted by one instance is refused by every other. */
  redis?: SharedRedis | undefined;
  /** Overrides the replay store (tests, embedding). */
  replay?: JtiStore | undefined;
}

/**
 * The app's DPoP state, one per runtime: the replay store (Redis when configured, else bounded in
 * process, RFC 9449 §11.1), the key cache and, when nonces are on, the nonce source. Nonces derive
 * from the key-encryption key as the authorization server's do, so both apps (and every instance)
 * with the same KEY_ENCRYPTION_KEY, or sharing the DATA_DIR holding the generated one, agree: a
 * client keeps one nonce per origin, and the two may share one.
 */
export function createAppDpop(settings: DpopSettings, deps: AppDpopDeps): ResourceDpop {
  const { now } = deps;
  return createResourceDpop({
    replay: deps.replay ?? (deps.redis ? redisJtiStore(deps.redis, 'dpop-jti', now) : createMemoryJtiStore({ maxEntries: settings.replayMaxEntries, now })),
    keyCache: createDpopKeyCache(KEY_CACHE_ENTRIES),
    signatures: createSignatureBatch(),
    nonces: settings.nonce ? sharedDpopNonces(deps.keyEncryptionKey(), now) : undefined,
    now,
  });
}

/** What one server's authenticator does with DPoP: its mode from the stack file and the app's checks. */
export interface ServerDpop {
  mode: DpopMode;
  checks: ResourceDpop;
}
