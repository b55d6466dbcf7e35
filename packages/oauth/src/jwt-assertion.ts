import {
  decodeJwt,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type ProtectedHeaderParameters,
} from 'jose';
import { OAuthError } from './errors.ts';

/**
 * Shared checks of the JWTs a client presents at the token endpoint: client assertions (RFC 7523
 * §2.2), ID-JAGs and workload identity tokens (RFC 7523 §2.1). Every failure becomes an OAuthError
 * whose description names the check, never a claim value or the token.
 */

/** Resolves the verification key from the JWS header (jose's createLocalJWKSet or a cached remote set). */
export type AssertionKeys = JWTVerifyGetKey;

/**
 * Asymmetric JWS algorithms only (RFC 7518 §3.1, RFC 8037): a symmetric or `none` algorithm would let
 * anyone holding the public key (or nothing) forge an assertion.
 */
export const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const DEFAULT_ASSERTION_ALGS: readonly string[] = ['RS256', 'PS256', 'ES256', 'EdDSA', 'Ed25519'];

/** Far above any real assertion (a few hundred bytes to a few KB), far below a body limit. */
export const MAX_ASSERTION_LENGTH = 16 * 1024;
/** The jti is a key in the replay store: bounded so a client cannot make entries large. */
const MAX_JTI_LENGTH = 256;
const MAX_KEY_TRIES = 8;
const JWS_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

export function checkedAlgs(algs: readonly string[] | undefined): string[] {
  const list = [...(algs ?? DEFAULT_ASSERTION_ALGS)];
  if (list.length === 0) throw new TypeError('at least one signing algorithm is required');
  for (const a of list) {
    if (!(ASYMMETRIC_ALGS as readonly string[]).includes(a)) throw new TypeError(`signing algorithm ${a} is not an asymmetric JWS algorithm`);
  }
  return list;
}

/**
 * Every audience a configured URL stands for. An origin with an empty path and the same origin with
 * "/" are one URI (RFC 3986 §6.2.3); clients build the value with URL parsers that add the slash
 * (`String(new URL(issuer))`), so both spellings are accepted. Nothing else is normalised.
 */
export function audienceForms(urls: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const u of urls) {
    out.add(u);
    let parsed: URL | undefined;
    try {
      parsed = new URL(u);
    } catch {
      continue; // not a URL (e.g. a plain identifier): exact match only
    }
    if (parsed.search || parsed.hash || (parsed.pathname !== '/' && parsed.pathname !== '')) continue;
    if (u === parsed.origin) out.add(`${parsed.origin}/`);
    else if (u === `${parsed.origin}/`) out.add(parsed.origin);
  }
  return out;
}

export type Fail = (description: string) => OAuthError;

/** Length and compact-JWS shape, before anything is decoded. */
export function checkShape(token: unknown, fail: Fail, noun: string): asserts token is string {
  if (typeof token !== 'string' || token === '') throw fail(`${noun} is missing`);
  if (token.length > MAX_ASSERTION_LENGTH) throw fail(`${noun} is too large`);
  if (!JWS_SHAPE.test(token)) throw fail(`${noun} is malformed`);
}

/** The unverified header and claims, to pick keys by issuer; nothing here is trusted yet. */
export function peek(token: string, fail: Fail, noun: string): { header: ProtectedHeaderParameters; claims: JWTPayload } {
  try {
    return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
  } catch {
    throw fail(`${noun} is malformed`);
  }
}

/**
 * Signature, algorithm, `typ` (when given), exp and nbf (with skew) through jose. A key set with
 * several keys matching a header without `kid` is tried key by key (at most MAX_KEY_TRIES).
 */
export async function verifySignature(
  token: string,
  keys: AssertionKeys,
  options: JWTVerifyOptions,
  fail: Fail,
  noun: string,
): Promise<{ payload: JWTPayload; header: ProtectedHeaderParameters }> {
  try {
    try {
      const { payload, protectedHeader } = await jwtVerify(token, keys, options);
      return { payload, header: protectedHeader };
    } catch (err) {
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      let tries = 0;
      for await (const key of err as unknown as AsyncIterable<CryptoKey>) {
        if (++tries > MAX_KEY_TRIES) break;
        try {
          const { payload, protectedHeader } = await jwtVerify(token, key, options);
          return { payload, header: protectedHeader };
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed();
    }
  } catch (err) {
    throw joseFailure(err, fail, noun);
  }
}

/** Maps a jose (or key resolver) failure to the caller's error kind; an OAuthError passes through. */
export function joseFailure(err: unknown, fail: Fail, noun: string): OAuthError {
  if (err instanceof OAuthError) return err;
  if (err instanceof errors.JWTExpired) return fail(`${noun} has expired`);
  if (err instanceof errors.JWTClaimValidationFailed) {
    if (err.claim === 'typ') return fail(`${noun} has the wrong type (typ header)`);
    if (err.claim === 'nbf') return fail(`${noun} is not yet valid`);
    if (err.reason === 'missing') return fail(`${noun} is missing the '${err.claim}' claim`);
    return fail(`${noun} claim '${err.claim}' is invalid`);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return fail(`${noun} signing algorithm is not allowed`);
  if (err instanceof errors.JWKSNoMatchingKey) return fail(`${noun} signing key is unknown`);
  if (err instanceof errors.JWSSignatureVerificationFailed) return fail(`${noun} signature is invalid`);
  if (err instanceof errors.JWKSInvalid || err instanceof errors.JWKSTimeout) return fail(`${noun} signing keys are unavailable`);
  if (err instanceof errors.JOSEError) return fail(`${noun} is malformed`);
  return fail(`${noun} could not be verified`);
}

export interface TimeRules {
  /** Milliseconds since the epoch. */
  now: number;
  clockSkewSeconds: number;
  maxLifetimeSeconds: number;
  /** iat must be present (ID-JAG, workload tokens) or may be absent (client assertions, RFC 7523 §3 item 6). */
  requireIat: boolean;
}

/**
 * What jose does not check: exp present and not too far ahead (RFC 7523 §3 item 4 lets the AS refuse
 * an unreasonably distant exp; the bound also bounds how long a jti must be remembered), iat not in
 * the future beyond the skew and not older than the lifetime, and exp - iat within the lifetime.
 */
export function checkTimes(p: JWTPayload, rules: TimeRules, fail: Fail, noun: string): void {
  const nowSec = Math.floor(rules.now / 1000);
  const skew = rules.clockSkewSeconds;
  const max = rules.maxLifetimeSeconds;
  if (typeof p.exp !== 'number' || !Number.isFinite(p.exp)) throw fail(`${noun} is missing the 'exp' claim`);
  if (p.exp <= nowSec - skew) throw fail(`${noun} has expired`);
  if (p.exp - nowSec > max + skew) throw fail(`${noun} lifetime is too long`);
  if (p.iat === undefined) {
    if (rules.requireIat) throw fail(`${noun} is missing the 'iat' claim`);
    return;
  }
  if (typeof p.iat !== 'number' || !Number.isFinite(p.iat)) throw fail(`${noun} claim 'iat' is invalid`);
  if (p.iat > nowSec + skew) throw fail(`${noun} is issued in the future`);
  if (p.exp - p.iat > max) throw fail(`${noun} lifetime is too long`);
}

/** A required non-empty string claim of bounded length (sub, client_id, …). */
export function stringClaim(p: JWTPayload, name: string, fail: Fail, noun: string, maxLength = 1024): string {
  const v = p[name];
  if (v === undefined) throw fail(`${noun} is missing the '${name}' claim`);
  if (typeof v !== 'string' || v === '' || v.length > maxLength) throw fail(`${noun} claim '${name}' is invalid`);
  return v;
}

export function jtiClaim(p: JWTPayload, fail: Fail, noun: string): string {
  return stringClaim(p, 'jti', fail, noun, MAX_JTI_LENGTH);
}

/**
 * `aud` must name us, as a string or as an array. With `onlyOurs`, every array member must name us too:
 * an assertion also addressed to another party could be replayed there by anyone who sees it (RFC 7521
 * §5.2 wants the AS among the audiences; draft-ietf-oauth-rfc7523bis narrows client assertions to
 * the AS alone).
 */
export function checkAudience(p: JWTPayload, accepted: Set<string>, onlyOurs: boolean, fail: Fail, noun: string): void {
  const aud = p.aud;
  if (aud === undefined) throw fail(`${noun} is missing the 'aud' claim`);
  const list = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : undefined;
  if (!list || list.length === 0 || list.length > 16 || list.some((a) => typeof a !== 'string')) throw fail(`${noun} claim 'aud' is invalid`);
  const ours = list.filter((a) => accepted.has(a)).length;
  if (ours === 0) throw fail(`${noun} audience is not this authorization server`);
  if (onlyOurs && ours !== list.length) throw fail(`${noun} audience names another party`);
}

/** Records the jti; a second use of the same key while it is live is refused. */
export async function checkReplay(store: { remember(key: string, expiresAtMs: number): Promise<boolean> }, key: string, expSec: number, skewSec: number, fail: Fail, noun: string): Promise<void> {
  // Kept until the assertion could no longer pass the exp check, skew included.
  if (!(await store.remember(key, (expSec + skewSec) * 1000))) throw fail(`${noun} has already been used`);
}
