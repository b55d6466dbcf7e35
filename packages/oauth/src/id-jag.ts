import type { JWTPayload } from 'jose';
import { invalidGrant, invalidTarget } from './errors.ts';
import { normaliseResource } from './authorization-response.ts';
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

/** RFC 7523 §2.1 grant type, used by both the ID-JAG and the workload identity token. */
export const JWT_BEARER_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** draft-ietf-oauth-identity-assertion-authz-grant §3: the ID-JAG's JWT header type. */
export const ID_JAG_TYP = 'oauth-id-jag+jwt';

export interface TrustedIdp {
  /** The IdP's signing keys (its JWKS). */
  keys: AssertionKeys;
  /** Clients (our client_ids) that may present this IdP's grants; absent: any authenticated client. */
  allowedClients?: readonly string[];
  /** Allowed JWS algorithms, asymmetric only (default RS256, PS256, ES256, EdDSA, Ed25519). */
  algs?: readonly string[];
}

export interface IdJagOptions {
  /** Enterprise IdPs we accept ID-JAGs from, by exact issuer identifier. */
  trustedIssuers: ReadonlyMap<string, TrustedIdp>;
  /** Our issuer identifier: the ID-JAG's `aud` (an empty-path issuer also matches with a trailing "/"). */
  ourIssuer: string;
  /** The client that authenticated this token request. */
  clientId: string;
  /**
   * The resource URLs we issue tokens for (RFC 8707), matched as selectResource does (scheme and host
   * case, trailing slash); the configured form is returned.
   */
  resources: readonly string[];
  /** Milliseconds since the epoch. */
  now: number;
  /** Longest accepted lifetime, exp - iat and exp - now (default 300 s, the draft's example). */
  maxLifetimeSeconds?: number;
  /** Clock skew allowed for exp, nbf and iat (default 30 s). */
  clockSkewSeconds?: number;
}

export interface VerifiedIdJag {
  issuer: string;
  subject: string;
  clientId: string;
  /**
   * The `resource` claim's URLs in their configured form, all of them ours; empty when the claim is absent (the caller then
   * takes the request's `resource` parameter or refuses).
   */
  resources: string[];
  /** The single resource when the claim names exactly one. */
  resource: string | undefined;
  /** The `scope` claim (RFC 6749 §3.3 syntax) when present: the cap on what the token may hold. */
  scope: string | undefined;
  jti: string;
  /** Seconds since the epoch. */
  expiresAt: number;
  /** Every verified claim, for mapping to a role (e.g. email, groups). */
  claims: JWTPayload;
}

const NOUN = 'ID-JAG';
const MAX_SCOPE_LENGTH = 2048;
const MAX_RESOURCES = 16;
const SCOPE_SYNTAX = /^[\x21\x23-\x5B\x5D-\x7E]+(?: [\x21\x23-\x5B\x5D-\x7E]+)*$/; // RFC 6749 §3.3

const fail = (d: string) => invalidGrant(d);

/**
 * Verifies an Identity Assertion JWT Authorization Grant presented with the JWT bearer grant
 * (draft-ietf-oauth-identity-assertion-authz-grant §4.4.1, RFC 7521 §5.2, MCP enterprise-managed
 * authorization §5.1): `typ` oauth-id-jag+jwt, a trusted `iss` whose keys sign it with an allowed
 * asymmetric algorithm, `aud` = our issuer, `client_id` = the authenticated client (and one the IdP
 * may speak for), `sub`, `iat`, a short `exp`, each `resource` one of ours, and a `jti` never accepted
 * before for that issuer. Failures are `invalid_grant` (400), or `invalid_target` for a resource we
 * do not serve (RFC 8707 §2); descriptions name the check, never the token or a claim value.
 *
 * The caller maps the result to a role, intersects the requested scopes with `scope` (EMA §7.2.1) and
 * issues a token whose audience is the resource (EMA §5.1).
 */
export async function verifyIdJag(jwt: unknown, opts: IdJagOptions, replay: AssertionReplayStore): Promise<VerifiedIdJag> {
  if (!opts.ourIssuer) throw new TypeError('ourIssuer is required');
  if (!opts.clientId) throw new TypeError('clientId is required');
  const skew = opts.clockSkewSeconds ?? 30;
  const maxLifetime = opts.maxLifetimeSeconds ?? 300;

  checkShape(jwt, fail, NOUN);
  const { header, claims } = peek(jwt, fail, NOUN);
  // Checked before the issuer so another kind of JWT is named as such; jose checks it again after the signature.
  if (typeof header.typ !== 'string' || normaliseTyp(header.typ) !== `application/${ID_JAG_TYP}`) throw fail(`${NOUN} has the wrong type (typ header)`);
  if (typeof claims.iss !== 'string' || claims.iss === '') throw fail(`${NOUN} is missing the 'iss' claim`);
  const idp = opts.trustedIssuers.get(claims.iss);
  if (!idp) throw fail(`${NOUN} issuer is not trusted`);
  const issuer = claims.iss;

  const { payload } = await verifySignature(
    jwt,
    idp.keys,
    { algorithms: checkedAlgs(idp.algs), typ: ID_JAG_TYP, issuer, currentDate: new Date(opts.now), clockTolerance: skew },
    fail,
    NOUN,
  );
  checkAudience(payload, audienceForms([opts.ourIssuer]), true, fail, NOUN);
  const clientId = stringClaim(payload, 'client_id', fail, NOUN);
  if (clientId !== opts.clientId) throw fail(`${NOUN} client_id is not the authenticated client`);
  if (idp.allowedClients && !idp.allowedClients.includes(clientId)) throw fail(`${NOUN} issuer may not grant access to this client`);
  const subject = stringClaim(payload, 'sub', fail, NOUN);
  checkTimes(payload, { now: opts.now, clockSkewSeconds: skew, maxLifetimeSeconds: maxLifetime, requireIat: true }, fail, NOUN);
  const jti = jtiClaim(payload, fail, NOUN);
  const resources = resourceClaim(payload, opts.resources);
  const scope = scopeClaim(payload);
  const exp = payload.exp as number;
  await checkReplay(replay, `id-jag\u0000${issuer}\u0000${jti}`, exp, skew, fail, NOUN);
  return { issuer, subject, clientId, resources, resource: resources.length === 1 ? resources[0] : undefined, scope, jti, expiresAt: exp, claims: payload };
}

/**
 * Whether a jwt-bearer `assertion` says it is an ID-JAG (typ header, unverified): the token endpoint
 * sends those to verifyIdJag (client authentication required) and other assertions to
 * verifyWorkloadToken. Either verifier checks the type again.
 */
export function isIdJag(assertion: unknown): boolean {
  try {
    checkShape(assertion, fail, NOUN);
    const { header } = peek(assertion, fail, NOUN);
    return typeof header.typ === 'string' && normaliseTyp(header.typ) === `application/${ID_JAG_TYP}`;
  } catch {
    return false;
  }
}

const normaliseTyp = (t: string) => (t.includes('/') ? t.toLowerCase() : `application/${t.toLowerCase()}`);

function resourceClaim(p: JWTPayload, ours: readonly string[]): string[] {
  const r = p.resource;
  if (r === undefined) return [];
  const list = typeof r === 'string' ? [r] : Array.isArray(r) ? r : undefined;
  if (!list || list.length === 0 || list.length > MAX_RESOURCES || list.some((x) => typeof x !== 'string' || x === '')) {
    throw fail(`${NOUN} claim 'resource' is invalid`);
  }
  const out = new Set<string>();
  for (const x of list as string[]) {
    const wanted = normaliseResource(x);
    const match = wanted === undefined ? undefined : ours.find((r) => normaliseResource(r) === wanted);
    if (match === undefined) throw invalidTarget(`${NOUN} resource is not served by this authorization server`);
    out.add(match);
  }
  return [...out];
}

function scopeClaim(p: JWTPayload): string | undefined {
  const s = p.scope;
  if (s === undefined) return undefined;
  if (typeof s !== 'string' || s.length > MAX_SCOPE_LENGTH || !SCOPE_SYNTAX.test(s)) throw fail(`${NOUN} claim 'scope' is invalid`);
  return s;
}
