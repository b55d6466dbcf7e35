import { invalidClient } from './errors.ts';
import type { AssertionReplayStore } from './assertion-replay.ts';
import {
  audienceForms,
  checkAudience,
  checkedAlgs,
  checkReplay,
  checkShape,
  checkTimes,
  jtiClaim,
  peek,
  verifySignature,
  type AssertionKeys,
} from './jwt-assertion.ts';

/** RFC 7523 §2.2: the only client_assertion_type this profile defines. */
export const CLIENT_ASSERTION_TYPE_JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';

export interface ClientAssertionOptions {
  /** The client the request names (client_id parameter, or the assertion's sub when it is absent). */
  clientId: string;
  /** The client's registered keys: createLocalJWKSet(jwks) or a cache of its jwks_uri. */
  keys: AssertionKeys;
  /**
   * What `aud` may be: our issuer identifier, and for compatibility our token endpoint URL (RFC 7523
   * §3 item 3). An empty-path issuer also matches with a trailing "/".
   */
  audiences: readonly string[];
  /** Allowed JWS algorithms, asymmetric only (default RS256, PS256, ES256, EdDSA, Ed25519). */
  algs?: readonly string[];
  /** Milliseconds since the epoch. */
  now: number;
  /** Longest accepted lifetime, exp - iat and exp - now (default 300 s). */
  maxLifetimeSeconds?: number;
  /** Clock skew allowed for exp, nbf and iat (default 30 s). */
  clockSkewSeconds?: number;
}

export interface VerifiedClientAssertion {
  clientId: string;
  jti: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** The `alg` of the verified signature. */
  alg: string;
}

const NOUN = 'client assertion';
/**
 * The header types a client assertion may carry: none, the generic JWT, or the explicit type of
 * draft-ietf-oauth-rfc7523bis. Other explicit types (at+jwt, dpop+jwt, oauth-id-jag+jwt, …) are JWTs
 * made for another purpose and are refused (RFC 8725 §3.11).
 */
const ALLOWED_TYP = new Set(['jwt', 'application/jwt', 'client-authentication+jwt', 'application/client-authentication+jwt']);
const fail = (d: string) => invalidClient(d);

/**
 * Verifies a private_key_jwt client assertion (RFC 7523 §2.2 and §3, RFC 7521 §5.2): signature by one
 * of the client's keys with an allowed asymmetric algorithm, iss = sub = client_id, aud naming only
 * this authorization server, a short exp, nbf and iat sane, and a jti never accepted before (keyed by
 * client and jti, remembered until exp). Any failure is `invalid_client` (401) whose description
 * names the check, never the assertion or its claims.
 *
 * Audience rule: a string, or an array whose members all name this server (issuer, its trailing-slash
 * form, or the token endpoint). An array that also names another party is refused: such an assertion
 * could be replayed at that party, and draft-ietf-oauth-rfc7523bis makes the issuer the sole value.
 */
export async function verifyClientAssertion(assertion: unknown, opts: ClientAssertionOptions, replay: AssertionReplayStore): Promise<VerifiedClientAssertion> {
  if (!opts.clientId) throw new TypeError('clientId is required');
  if (opts.audiences.length === 0) throw new TypeError('at least one audience is required');
  const algs = checkedAlgs(opts.algs);
  const skew = opts.clockSkewSeconds ?? 30;
  const maxLifetime = opts.maxLifetimeSeconds ?? 300;

  checkShape(assertion, fail, NOUN);
  const { header } = peek(assertion, fail, NOUN);
  if (header.typ !== undefined && (typeof header.typ !== 'string' || !ALLOWED_TYP.has(header.typ.toLowerCase()))) {
    throw fail(`${NOUN} has the wrong type (typ header)`);
  }
  const { payload, header: verifiedHeader } = await verifySignature(
    assertion,
    opts.keys,
    { algorithms: algs, currentDate: new Date(opts.now), clockTolerance: skew },
    fail,
    NOUN,
  );
  // RFC 7523 §3 items 1 and 2: a client authenticates as itself, so iss and sub are both its client_id.
  if (payload.iss !== opts.clientId) throw fail(`${NOUN} issuer is not the client`);
  if (payload.sub !== opts.clientId) throw fail(`${NOUN} subject is not the client`);
  checkAudience(payload, audienceForms(opts.audiences), true, fail, NOUN);
  checkTimes(payload, { now: opts.now, clockSkewSeconds: skew, maxLifetimeSeconds: maxLifetime, requireIat: false }, fail, NOUN);
  const jti = jtiClaim(payload, fail, NOUN);
  const exp = payload.exp as number;
  // After every other check: an assertion that fails them must not use up its jti.
  await checkReplay(replay, `client-assertion\u0000${opts.clientId}\u0000${jti}`, exp, skew, fail, NOUN);
  return { clientId: opts.clientId, jti, expiresAt: exp, alg: verifiedHeader.alg as string };
}

/**
 * The client a request authenticating with an assertion claims to be (RFC 7521 §4.2: client_id is
 * optional then), read unverified from `sub` to look up its keys. verifyClientAssertion checks it.
 */
export function assertionClientId(assertion: unknown): string | undefined {
  try {
    checkShape(assertion, fail, NOUN);
    const { claims } = peek(assertion, fail, NOUN);
    return typeof claims.sub === 'string' && claims.sub !== '' && claims.sub.length <= 1024 ? claims.sub : undefined;
  } catch {
    return undefined;
  }
}
