import type { JWTPayload } from 'jose';
import { invalidGrant } from './errors.ts';
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
  stringClaim,
  verifySignature,
  type AssertionKeys,
} from './jwt-assertion.ts';

export interface TrustedWorkloadIssuer {
  /** The issuer's signing keys (its JWKS, e.g. a cluster's or a CI provider's OIDC keys). */
  keys: AssertionKeys;
  /**
   * What `aud` must name: our token endpoint URL (MCP workload identity federation) and/or our issuer;
   * an empty-path URL also matches with a trailing "/". Platforms let the workload choose the audience
   * of its token, so it is never left open.
   */
  audience: string | readonly string[];
  /** Allowed JWS algorithms, asymmetric only (default RS256, PS256, ES256, EdDSA, Ed25519). */
  algs?: readonly string[];
  /** When set, `sub` must match it as a whole (e.g. /^system:serviceaccount:ci:[a-z0-9-]+$/). */
  subjectPattern?: RegExp;
  /**
   * Longest accepted lifetime, exp - iat and exp - now (default 3600 s: Kubernetes projected tokens
   * and CI OIDC tokens last from minutes to an hour).
   */
  maxLifetimeSeconds?: number;
  /**
   * `jti` is required by the MCP extension and then never accepted twice for this issuer; 'optional'
   * admits platforms that issue none (such a token is reusable until exp).
   */
  jti?: 'required' | 'optional';
}

export interface WorkloadTokenOptions {
  trustedIssuers: ReadonlyMap<string, TrustedWorkloadIssuer>;
  /** Milliseconds since the epoch. */
  now: number;
  /** Clock skew allowed for exp, nbf and iat (default 30 s). */
  clockSkewSeconds?: number;
}

export interface VerifiedWorkloadToken {
  issuer: string;
  subject: string;
  jti: string | undefined;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** Every verified claim, for mapping to a service identity and role. */
  claims: JWTPayload;
}

const NOUN = 'workload token';
/**
 * Workload tokens are plain JWTs (Kubernetes sets no typ, CI providers "JWT"); an explicitly typed
 * JWT made for another purpose (at+jwt, oauth-id-jag+jwt, dpop+jwt, …) is refused (RFC 8725 §3.11).
 */
const ALLOWED_TYP = new Set(['jwt', 'application/jwt']);
const fail = (d: string) => invalidGrant(d);

/**
 * Verifies a workload identity token presented with the JWT bearer grant (RFC 7523 §2.1 and §3, MCP
 * workload identity federation): a trusted `iss` whose keys sign it with an allowed asymmetric
 * algorithm, `aud` naming us (other audiences may ride along: platform tokens often carry several),
 * `sub` present and matching the issuer's pattern, `iat` present, a bounded `exp`, and the `jti`
 * never accepted twice. Failures are `invalid_grant` (400) whose description names the check, never
 * the token or a claim value. The caller maps the result to a service identity and role.
 */
export async function verifyWorkloadToken(jwt: unknown, opts: WorkloadTokenOptions, replay?: AssertionReplayStore): Promise<VerifiedWorkloadToken> {
  const skew = opts.clockSkewSeconds ?? 30;
  checkShape(jwt, fail, NOUN);
  const { header, claims } = peek(jwt, fail, NOUN);
  if (header.typ !== undefined && (typeof header.typ !== 'string' || !ALLOWED_TYP.has(header.typ.toLowerCase()))) {
    throw fail(`${NOUN} has the wrong type (typ header)`);
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') throw fail(`${NOUN} is missing the 'iss' claim`);
  const trusted = opts.trustedIssuers.get(claims.iss);
  if (!trusted) throw fail(`${NOUN} issuer is not trusted`);
  const issuer = claims.iss;
  const audience = typeof trusted.audience === 'string' ? [trusted.audience] : [...trusted.audience];
  if (audience.length === 0) throw new TypeError('a trusted workload issuer needs an audience');

  const { payload } = await verifySignature(
    jwt,
    trusted.keys,
    { algorithms: checkedAlgs(trusted.algs), issuer, currentDate: new Date(opts.now), clockTolerance: skew },
    fail,
    NOUN,
  );
  checkAudience(payload, audienceForms(audience), false, fail, NOUN);
  const subject = stringClaim(payload, 'sub', fail, NOUN);
  if (trusted.subjectPattern && !fullMatch(trusted.subjectPattern, subject)) throw fail(`${NOUN} subject is not accepted`);
  checkTimes(payload, { now: opts.now, clockSkewSeconds: skew, maxLifetimeSeconds: trusted.maxLifetimeSeconds ?? 3600, requireIat: true }, fail, NOUN);
  const exp = payload.exp as number;
  let jti: string | undefined;
  if (payload.jti !== undefined || trusted.jti !== 'optional') {
    jti = jtiClaim(payload, fail, NOUN);
    if (replay) await checkReplay(replay, `workload\u0000${issuer}\u0000${jti}`, exp, skew, fail, NOUN);
  }
  return { issuer, subject, jti, expiresAt: exp, claims: payload };
}

function fullMatch(pattern: RegExp, value: string): boolean {
  // A fresh non-global copy: lastIndex state of a /g or /y pattern must not leak between calls.
  const m = new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')).exec(value);
  return m !== null && m.index === 0 && m[0].length === value.length;
}
