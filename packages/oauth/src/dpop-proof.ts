import { KeyObject, hash } from 'node:crypto';
import { calculateJwkThumbprint, compactVerify, importJWK, type CryptoKey, type JWK } from 'jose';
import { safeEqual } from '@stack/crypto';
import { invalidDpopProof, OAuthError, useDpopNonce, type DpopErrorStatus } from './errors.ts';
import type { DpopNonces } from './dpop-nonce.ts';
import { dpopReplayKey } from './dpop-replay.ts';
import { checkedAlgs } from './jwt-assertion.ts';
import type { JtiStore } from './jti-store.ts';
import { nodeVerifier, signatureValid, type NodeVerifier, type SignatureBatch } from './signature-batch.ts';


/** JWK members that carry private or symmetric key material (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2). */
const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'];
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;

export const DPOP_DEFAULTS = {
  /** An ES256 proof is about 700 bytes, an RS256 one with a 4096-bit key about 2 KB. */
  maxBytes: 4096,
  /** Longer than any random `jti` a client needs (RFC 9449 §4.2 asks for 96 bits or more). */
  maxJtiLength: 256,
  /**
   * How old and how far ahead of our clock `iat` may be (RFC 9449 §4.3 point 11, §11.1): a short
   * window limits how long a stolen proof stays usable and how long its `jti` must be remembered;
   * the future allowance absorbs small client clock skew.
   */
  iatWindow: { pastSeconds: 60, futureSeconds: 10 },
} as const;

export interface DpopProofExpectations {
  /** The request's method, upper case (`htm`). */
  htm: string;
  /**
   * The request's absolute URI as the client addressed it (`htu`); its query and fragment are
   * ignored. A server checking many proofs against one URI passes it normalised once ({@link expectedHtu}).
   */
  htu: string | ExpectedHtu;
  /** The access token presented with the proof (resource requests): the proof's `ath` must be its hash. */
  accessToken?: string | undefined;
  /**
   * Require a server nonce (RFC 9449 §8, §9). A string is the one nonce accepted (and the one sent
   * back when it is missing); a {@link DpopNonces} source accepts its current and previous values
   * and supplies the fresh one. A bare predicate is not enough: the refusal must carry a new nonce.
   */
  nonce?: string | DpopNonces | undefined;
  /** Allowed proof algorithms, a non-empty subset of ASYMMETRIC_ALGS (jwt-assertion.ts). */
  algs: readonly string[];
  /** Epoch milliseconds. */
  now: () => number;
  iatWindow?: { pastSeconds: number; futureSeconds: number } | undefined;
  maxBytes?: number | undefined;
  /** 400 at the token endpoint (RFC 9449 §5), 401 at a protected resource (§7.1). Default 400. */
  status?: DpopErrorStatus | undefined;
  /** Skips header parsing, key import and thumbprint for a header already seen (see {@link createDpopKeyCache}). */
  keyCache?: DpopKeyCache | undefined;
  /**
   * Checks the signatures of proofs by cached keys together with the others of the same event-loop
   * turn ({@link createSignatureBatch}: less CPU per proof under load); without it each is checked
   * on the spot.
   */
  signatures?: SignatureBatch | undefined;
}

/** A checked proof header's key, ready for the next proof from the same client. */
export interface CachedDpopKey {
  alg: string;
  jwk: JWK;
  key: CryptoKey;
  jkt: string;
  /** The same key with its node:crypto parameters, which verify the next proofs synchronously (set by verifyDpopProof). */
  verifier?: NodeVerifier | undefined;
}

export interface DpopKeyCache {
  get(header: string): CachedDpopKey | undefined;
  set(header: string, key: CachedDpopKey): void;
}

/**
 * A bounded LRU of proof headers (the encoded `{typ, alg, jwk}` a client sends unchanged with every
 * proof) to their imported key and thumbprint: a client's second proof costs one signature
 * verification, not a key import and a hash as well. Keyed by the exact header bytes, so a header
 * that differs in any way is checked afresh; at most `maxEntries` × `maxBytes` of headers are held.
 */
export function createDpopKeyCache(maxEntries = 1000): DpopKeyCache {
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new TypeError('maxEntries must be a positive integer');
  const entries = new Map<string, CachedDpopKey>();
  return {
    get(header) {
      const hit = entries.get(header);
      if (hit) {
        entries.delete(header);
        entries.set(header, hit);
      }
      return hit;
    },
    set(header, key) {
      entries.delete(header);
      entries.set(header, key);
      if (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
    },
  };
}

export interface VerifiedDpopProof {
  /** RFC 7638 SHA-256 thumbprint of the proof key: the token's `cnf.jkt` (RFC 9449 §6.1). */
  jkt: string;
  jti: string;
  iat: number;
  /** The proof's public key as sent in its header. */
  jwk: JWK;
}

/**
 * RFC 9449 §4.1 `ath`: base64url(SHA-256(ASCII access token)). An access token is token68 (RFC
 * 6750 §2.1), ASCII, whose UTF-8 bytes are its ASCII bytes, so the string is hashed as it is: a
 * copy into a Buffer first would cost several times the hash itself.
 */
export function accessTokenHash(accessToken: string): string {
  return hash('sha256', accessToken, 'base64url');
}

/**
 * Whether `ath` is the token's hash, in constant time: both are 43 base64url characters when `ath`
 * is well formed, and the loop visits every one whatever they hold.
 */
function athMatches(ath: string, accessToken: string): boolean {
  const expected = accessTokenHash(accessToken);
  if (ath.length !== expected.length) return false;
  let diff = 0;
  for (let i = 0; i < expected.length; i++) diff |= expected.charCodeAt(i) ^ ath.charCodeAt(i);
  return diff === 0;
}

/**
 * The part of a URI `htu` is compared on (RFC 9449 §4.3 point 9): scheme, host and path, with
 * query and fragment dropped and the RFC 3986 §6.2.2 normalisations applied — scheme and host in
 * lower case, the default port removed, dot segments resolved, percent-encodings in upper case and
 * unreserved characters decoded (§6.2.3: an empty path is "/"). Undefined when it is not an http(s)
 * URI or carries user information, which no request URI has.
 */
export function normalizeHtu(uri: string): string | undefined {
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.username !== '' || url.password !== '') return undefined;
  const path = url.pathname.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return UNRESERVED.test(c) ? c : `%${hex.toUpperCase()}`;
  });
  return `${url.protocol}//${url.host}${path}`;
}

/** A server's own `htu`, normalised once ({@link expectedHtu}) rather than for every proof it checks. */
export interface ExpectedHtu {
  readonly normalized: string;
}

/**
 * A request URI normalised for comparison. Proofs whose `htu` is exactly this string are taken
 * without normalising them, which is right because it is a fixed point of normalizeHtu (checked
 * here, once); a URI that were not would match no proof.
 */
function normalizedExpected(uri: string): ExpectedHtu | undefined {
  const normalized = normalizeHtu(uri);
  return normalized !== undefined && normalizeHtu(normalized) === normalized ? Object.freeze({ normalized }) : undefined;
}

/** A server's request URI normalised once, for {@link DpopProofExpectations.htu}; a TypeError when it is no http(s) URI (a configuration error). */
export function expectedHtu(uri: string): ExpectedHtu {
  const expected = normalizedExpected(uri);
  if (!expected) throw new TypeError('the DPoP htu must be an http(s) URI without user information');
  return expected;
}

/**
 * Whether a proof's `htu` names the expected URI (RFC 9449 §4.3 point 9). A client that sends it
 * in normalised form, as one building it from the server's metadata does, costs one string
 * comparison; any other spelling is normalised first.
 */
function htuMatches(htu: unknown, expected: ExpectedHtu | undefined): boolean {
  return typeof htu === 'string' && expected !== undefined && (htu === expected.normalized || normalizeHtu(htu) === expected.normalized);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function decodeJson(part: string): unknown {
  try {
    return JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Checks a DPoP proof as RFC 9449 §4.3 lists, then records its `jti` in `replay`. `proof` is the
 * request's `DPoP` header as the framework gives it (a repeated header arrives joined by commas or as
 * an array; either is refused). Every refusal is an OAuthError: `invalid_dpop_proof` naming the
 * failed check (never echoing the proof), `use_dpop_nonce` with a fresh nonce, or whatever `replay`
 * throws when it cannot record the `jti`. Cheap claim checks run before the signature, so a proof
 * for another request costs no public-key operation; the nonce and the replay cache come last, so
 * only an otherwise valid proof gets a nonce challenge or uses a cache entry.
 */
export async function verifyDpopProof(proof: string | readonly string[] | undefined, expect: DpopProofExpectations, replay: JtiStore): Promise<VerifiedDpopProof> {
  // A proof's alg is asymmetric, never `none` nor HMAC (RFC 9449 §4.2, §11.6): a server configured
  // otherwise is a programming error (TypeError), not the client's.
  checkedAlgs(expect.algs);
  const status = expect.status ?? 400;
  const fail = (d: string) => invalidDpopProof(d, status);
  const maxBytes = expect.maxBytes ?? DPOP_DEFAULTS.maxBytes;
  const { pastSeconds, futureSeconds } = expect.iatWindow ?? DPOP_DEFAULTS.iatWindow;

  // §4.3 points 1-2: exactly one header holding one compact JWS.
  if (Array.isArray(proof) && proof.length > 1) throw fail('more than one DPoP header');
  const jws: unknown = Array.isArray(proof) ? proof[0] : proof;
  if (typeof jws !== 'string' || jws === '') throw fail('missing DPoP proof');
  if (jws.length > maxBytes) throw fail(`DPoP proof is larger than ${maxBytes} bytes`);
  if (jws.includes(',')) throw fail('more than one DPoP proof');
  if (!COMPACT_JWS.test(jws)) throw fail('DPoP proof is not a compact JWS');
  const [headerPart, payloadPart] = jws.split('.') as [string, string, string];

  // §4.3 points 3-5 and 7: the header (as checked when its key was cached, bar the allowed algs).
  const cached = expect.keyCache?.get(headerPart);
  let alg: string;
  let jwk: JWK;
  if (cached) {
    alg = cached.alg;
    jwk = cached.jwk;
    if (!expect.algs.includes(alg)) throw fail(`DPoP proof 'alg' must be one of ${expect.algs.join(', ')}`);
  } else {
    const header = decodeJson(headerPart);
    if (!isObject(header)) throw fail('DPoP proof header is not a JSON object');
    if (header.typ !== 'dpop+jwt') throw fail("DPoP proof 'typ' must be 'dpop+jwt'");
    if (typeof header.alg !== 'string' || !expect.algs.includes(header.alg)) throw fail(`DPoP proof 'alg' must be one of ${expect.algs.join(', ')}`);
    alg = header.alg;
    const hjwk = header.jwk;
    if (!isObject(hjwk)) throw fail("DPoP proof header has no 'jwk' object");
    if (PRIVATE_JWK_MEMBERS.some((m) => m in hjwk)) throw fail("DPoP proof 'jwk' must be a public key");
    if (hjwk.kty !== 'EC' && hjwk.kty !== 'RSA' && hjwk.kty !== 'OKP') throw fail("DPoP proof 'jwk' must be an EC, RSA or OKP public key");
    jwk = hjwk;
  }

  // §4.3 points 3 and 8-11: the claims, before spending a signature verification on them.
  const claims = decodeJson(payloadPart);
  if (!isObject(claims)) throw fail('DPoP proof payload is not a JSON object');
  const { jti, htm, htu, iat } = claims;
  if (typeof jti !== 'string' || jti === '' || jti.length > DPOP_DEFAULTS.maxJtiLength)
    throw fail(`DPoP proof 'jti' must be a string of 1 to ${DPOP_DEFAULTS.maxJtiLength} characters`);
  if (htm !== expect.htm) throw fail("DPoP proof 'htm' does not match the request method");
  if (!htuMatches(htu, typeof expect.htu === 'string' ? normalizedExpected(expect.htu) : expect.htu)) throw fail("DPoP proof 'htu' does not match the request URI");
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw fail("DPoP proof 'iat' must be a number");
  const nowSeconds = expect.now() / 1000;
  if (iat < nowSeconds - pastSeconds) throw fail('DPoP proof is too old');
  if (iat > nowSeconds + futureSeconds) throw fail("DPoP proof 'iat' is in the future");
  // §4.3 point 12 (first half): the proof is for the token presented with it.
  if (expect.accessToken !== undefined) {
    if (typeof claims.ath !== 'string') throw fail("DPoP proof has no 'ath' for the access token");
    if (!athMatches(claims.ath, expect.accessToken)) throw fail("DPoP proof 'ath' does not match the access token");
  }

  // §4.3 point 6: the signature, with the key from the header.
  let key = cached?.key;
  if (!key) {
    let imported: Awaited<ReturnType<typeof importJWK>>;
    try {
      imported = await importJWK(jwk, alg);
    } catch {
      throw fail("DPoP proof 'jwk' is not a usable key for its 'alg'");
    }
    if (imported instanceof Uint8Array || imported.type !== 'public') throw fail("DPoP proof 'jwk' must be a public key");
    key = imported;
  }
  if (cached?.verifier) {
    const valid = expect.signatures ? await expect.signatures.verify(jws, cached.verifier) : signatureValid(jws, cached.verifier);
    if (!valid) throw fail('DPoP proof signature is invalid');
  } else {
    try {
      await compactVerify(jws, key, { algorithms: [alg] });
    } catch {
      throw fail('DPoP proof signature is invalid');
    }
  }
  let jkt = cached?.jkt;
  if (jkt === undefined) {
    try {
      jkt = await calculateJwkThumbprint(jwk, 'sha256');
    } catch {
      throw fail("DPoP proof 'jwk' is missing members");
    }
    // Only a header whose key has just verified a signature is cached.
    if (expect.keyCache) expect.keyCache.set(headerPart, { alg, jwk: Object.freeze(jwk), key, jkt, verifier: nodeVerifier(alg, KeyObject.from(key)) });
  }

  // §4.3 point 10: the server nonce.
  if (expect.nonce !== undefined) {
    const n = claims.nonce;
    const fresh = typeof expect.nonce === 'string' ? expect.nonce : expect.nonce.current();
    const valid = typeof n === 'string' && (typeof expect.nonce === 'string' ? safeEqual(n, expect.nonce) : expect.nonce.isValid(n));
    if (!valid) throw useDpopNonce(fresh, status);
  }

  // §11.1: a proof is accepted once. Its jti is kept until its iat leaves the window, plus a second
  // for the rounding of `iat`.
  const expiresAtMs = Math.ceil((iat + pastSeconds + 1) * 1000);
  let first: boolean;
  try {
    first = await replay.remember(dpopReplayKey(jkt, jti), expiresAtMs);
  } catch (err) {
    if (err instanceof OAuthError) throw err;
    throw new OAuthError('temporarily_unavailable', 'the DPoP replay cache is unavailable, retry later', 503, { retryAfter: 1, cause: err });
  }
  if (!first) throw fail('DPoP proof has already been used');
  return { jkt, jti, iat, jwk };
}
