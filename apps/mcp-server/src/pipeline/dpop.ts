import { createDpopNonces, createDpopKeyCache, createMemoryJtiStore, verifyDpopProof, type DpopKeyCache, type DpopNonces, type JtiStore } from '@stack/oauth';
import type { DpopMode } from '@stack/stack-config';

/**
 * The proof algorithms a resource accepts (RFC 9449 §7.1 `algs`, RFC 9728 §2
 * `dpop_signing_alg_values_supported`): ES256 first, the one MCP clients use; the others are the
 * common asymmetric ones. Never `none` nor HMAC (verifyDpopProof refuses those anyway).
 */
export const DPOP_ALGS: readonly string[] = Object.freeze(['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']);

/** How long a resource nonce lasts: accepted for one to two windows after it is issued (createDpopNonces). */
export const DPOP_NONCE_ROTATE_SECONDS = 300;

/** What one request presents for a DPoP check. */
export interface DpopRequest {
  /** The `DPoP` header(s) as the framework gives them. */
  proof: string | readonly string[] | undefined;
  /** The request method (`htm`). */
  method: string;
  /** The server's configured resource URL (`htu`): what the client addressed, whatever Host the request came with. */
  htu: string;
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
      }, opts.replay);
      return jkt;
    },
  };
}

export interface DpopSettings {
  /** MCP_DPOP_NONCE: require server nonces in proofs. */
  nonce: boolean;
  /** DPOP_NONCE_SECRET: shared by every instance (and the authorization server when it shares the origin). */
  nonceSecret: Uint8Array | undefined;
  /** MCP_DPOP_REPLAY_MAX_ENTRIES: live proof `jti`s the in-process replay store holds. */
  replayMaxEntries: number;
}

/**
 * The app's DPoP state, one per runtime: the replay store (`replay` when given, e.g. a shared one),
 * the key cache and, when nonces are on, the nonce source. Without a configured secret the nonce
 * secret is random per process: nonces then hold only for this instance.
 */
export function createAppDpop(settings: DpopSettings, now: () => number, replay?: JtiStore): ResourceDpop {
  const nonces = settings.nonce
    ? createDpopNonces({ secret: settings.nonceSecret ?? crypto.getRandomValues(new Uint8Array(32)), now, rotateSeconds: DPOP_NONCE_ROTATE_SECONDS })
    : undefined;
  return createResourceDpop({
    replay: replay ?? createMemoryJtiStore({ maxEntries: settings.replayMaxEntries, now }),
    keyCache: createDpopKeyCache(),
    nonces,
    now,
  });
}

/** What one server's authenticator does with DPoP: its mode from the stack file and the app's checks. */
export interface ServerDpop {
  mode: DpopMode;
  checks: ResourceDpop;
}
