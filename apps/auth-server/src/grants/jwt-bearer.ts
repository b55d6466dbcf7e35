import { randomUUID } from 'node:crypto';
import { decodeJwt } from 'jose';
import {
  JWT_BEARER_GRANT_TYPE, MAX_ASSERTION_LENGTH, OAuthError, formatScope, intersectScopes, invalidGrant, invalidScope, invalidTarget, isIdJag,
  normaliseResource, parseScope, selectResource, unauthorizedClient, verifyIdJag, verifyWorkloadToken,
  type TrustedIdp, type TrustedWorkloadIssuer, type VerifiedIdJag,
} from '@stack/oauth';
import type { EnterpriseIdp, WorkloadIssuer } from '@stack/stack-config';
import type { AppContext } from '../context.ts';
import type { AuthenticatedClient } from '../services/client-auth.ts';
import { findClient } from '../services/clients.ts';
import { mintTokens, type TokenResponse } from '../services/token-response.ts';
import { requireParam, type GrantRequest } from './grant.ts';

export const grantType = JWT_BEARER_GRANT_TYPE;
export const parameters = ['assertion', 'scope', 'resource'] as const;
type JwtBearerRequest = GrantRequest<(typeof parameters)[number]>;

/**
 * Which clients may present the grant is the stack file's word (an IdP's `clients`, a workload
 * issuer's `client_id`), not the client's registered grant_types.
 */
export const clientsFromStack = true;

/** Offered only while the stack file trusts an enterprise IdP or a workload issuer. */
export function enabled(ctx: AppContext): boolean {
  const s = ctx.stack.current();
  return s.enterpriseIdps.length > 0 || s.workloadIssuers.length > 0;
}

/**
 * The access token's `sub` for a federated subject: `<issuer>|<sub>`, so that equal subjects of two
 * issuers (or a local user id) never name the same identity. The MCP app reads at most 256 characters.
 */
const MAX_SUBJECT_LENGTH = 256;
function federatedSubject(issuer: string, subject: string): string {
  const s = `${issuer}|${subject}`;
  if (s.length > MAX_SUBJECT_LENGTH) throw invalidGrant(`the issuer and subject together are longer than ${MAX_SUBJECT_LENGTH} characters`);
  return s;
}

/**
 * A workload token sent without client authentication acts as the client its issuer's entry names
 * (MCP workload identity federation: the token is the credential). The issuer is read unverified to
 * find that client; the handler verifies the token against that issuer only and checks the client
 * again. Undefined (client authentication then required as usual) for an ID-JAG or an unknown issuer.
 */
export async function implicitClient(ctx: AppContext, form: Record<string, string>, address: string): Promise<AuthenticatedClient | undefined> {
  const assertion = form.assertion;
  if (!assertion || isIdJag(assertion)) return undefined;
  let iss: unknown;
  try {
    if (assertion.length <= MAX_ASSERTION_LENGTH) iss = decodeJwt(assertion).iss;
  } catch {
    // malformed: refused just below
  }
  const entry = ctx.stack.current().workloadIssuers.find((w) => w.issuer === iss);
  if (!entry) {
    // No client is named: the token's own refusal (malformed, issuer not trusted) is the useful answer,
    // as invalid_grant; with no trusted issuer this check fails before any key is fetched.
    await verifyWorkloadToken(assertion, { trustedIssuers: new Map(), now: ctx.now() });
    return undefined;
  }
  const client = await findClient(ctx, entry.clientId, address);
  if (!client) throw invalidGrant("the workload issuer's client is not registered");
  return { client, method: 'none' };
}

/** RFC 6749 §3.3 scope parameter: syntax errors and scopes we do not issue are invalid_scope. */
function askedScopes(ctx: AppContext, raw: string | undefined): string[] {
  let asked: string[];
  try {
    asked = parseScope(raw).filter((s) => s !== 'offline_access');
  } catch (err) {
    throw err instanceof OAuthError ? invalidScope(err.description) : err;
  }
  const unknown = asked.find((s) => !ctx.stack.scopes().includes(s));
  if (unknown !== undefined) throw invalidScope(`unknown scope '${unknown.slice(0, 50)}'`);
  return asked;
}

/**
 * requested (else the cap's, else the resource's server's scopes) ∩ the cap (the ID-JAG's scope, EMA
 * §7.2.1) ∩ the role's scopes. Nothing left is invalid_scope.
 */
function grantedScope(ctx: AppContext, raw: string | undefined, cap: string[] | undefined, role: string, resource: string): string {
  let asked = askedScopes(ctx, raw);
  if (asked.length === 0) asked = cap ?? [...ctx.stack.scopesFor(resource)];
  const roleScopes = ctx.stack.current().scopesForRole(role);
  const scopes = cap ? intersectScopes(asked, cap, roleScopes) : intersectScopes(asked, roleScopes);
  if (scopes.length === 0) throw invalidScope('none of the requested scopes is allowed for this subject and its role');
  return formatScope(scopes);
}

/**
 * RFC 8707: the `resource` parameter and the ID-JAG's `resource` claim must agree when both are
 * present; either alone names the token's audience; neither is invalid_target.
 */
function jagResource(ctx: AppContext, requested: string | undefined, jag: VerifiedIdJag): string {
  if (jag.resources.length === 0) return selectResource(ctx.stack.resources(), requested);
  if (requested === undefined || requested === '') {
    if (jag.resource === undefined) throw invalidTarget("the ID-JAG names several resources: send 'resource' to pick one");
    return jag.resource;
  }
  const wanted = normaliseResource(requested);
  const match = jag.resources.find((r) => normaliseResource(r) === wanted);
  if (match === undefined) throw invalidTarget("'resource' is not a resource the ID-JAG grants");
  return match;
}

/**
 * The role an IdP's claim maps to: the first `roles` entry (file order) whose value the claim holds
 * (a string or an array of strings), else `default_role`; none is invalid_grant.
 */
function mappedRole(ctx: AppContext, idp: EnterpriseIdp, claims: Record<string, unknown>): string {
  const raw = Object.hasOwn(claims, idp.roleClaim) ? claims[idp.roleClaim] : undefined;
  const held = typeof raw === 'string' ? [raw] : Array.isArray(raw) ? raw.filter((v): v is string => typeof v === 'string') : [];
  const role = Object.entries(idp.roles).find(([value]) => held.includes(value))?.[1] ?? idp.defaultRole;
  if (role === undefined) throw invalidGrant('no role for this user');
  if (!ctx.stack.current().roles.includes(role)) throw invalidGrant('no role for this user');
  return role;
}

interface Issued {
  subject: string;
  role: string;
  resource: string;
  scope: string;
  issuer: string;
}

async function issue(g: JwtBearerRequest, kind: 'id-jag' | 'workload', t: Issued): Promise<TokenResponse> {
  const { ctx, client } = g;
  const now = ctx.now();
  // Recorded by jti so that revoking the client revokes it. No refresh token: the ID-JAG draft's
  // access token response says the AS SHOULD NOT return one (the client asks the IdP for a new ID-JAG,
  // so the enterprise keeps control), and a workload presents a fresh platform token instead.
  const minted = await mintTokens(ctx, {
    familyId: `jwt:${randomUUID()}`, clientId: client.id, userId: t.subject, role: t.role, resource: t.resource, scope: t.scope, dpopJkt: g.dpop?.jkt,
  }, now);
  await ctx.store.tokens.recordAccessToken(minted.rows.access);
  ctx.audit.write({
    event: 'token.issued', grant: 'jwt-bearer', assertion: kind, issuer: t.issuer, subject: t.subject, client: client.id, role: t.role,
    resource: t.resource, scope: t.scope, jti: minted.access.jti, jkt: g.dpop?.jkt, refresh: false, address: g.address, decision: 'allow',
  });
  return minted.response;
}

/**
 * An ID-JAG (draft-ietf-oauth-identity-assertion-authz-grant §4.4, MCP enterprise-managed
 * authorization §5): presented by an authenticated confidential client the IdP's entry lists, for
 * one of our resources; the role from the IdP's claim mapping; no consent screen (the enterprise decided).
 */
async function idJagGrant(g: JwtBearerRequest, assertion: string): Promise<TokenResponse> {
  const { ctx, client } = g;
  if (client.tokenEndpointAuthMethod === 'none') throw unauthorizedClient('an ID-JAG must be presented by an authenticated confidential client');
  const idps = ctx.stack.current().enterpriseIdps;
  const trusted = new Map<string, TrustedIdp>(idps.map((i) => [i.issuer, { keys: ctx.issuerKeys.keysAt(i.jwksUri), allowedClients: i.clients }]));
  const jag = await verifyIdJag(assertion, {
    trustedIssuers: trusted, ourIssuer: ctx.config.issuer, clientId: client.id, resources: ctx.stack.resources(), now: ctx.now(),
  }, ctx.assertionReplay);
  const idp = idps.find((i) => i.issuer === jag.issuer)!;
  const role = mappedRole(ctx, idp, jag.claims);
  const resource = jagResource(ctx, g.params.resource, jag);
  const scope = grantedScope(ctx, g.params.scope, jag.scope === undefined ? undefined : parseScope(jag.scope), role, resource);
  return issue(g, 'id-jag', { subject: federatedSubject(jag.issuer, jag.subject), role, resource, scope, issuer: jag.issuer });
}

/**
 * A workload identity token (RFC 7523 §2.1, MCP workload identity federation): from a trusted
 * issuer, acting as the client its entry names (a client that authenticated must be that one), with
 * the entry's role. Its jti is remembered unless the entry says `jti: optional` and the token has none.
 */
async function workloadGrant(g: JwtBearerRequest, assertion: string): Promise<TokenResponse> {
  const { ctx, client } = g;
  const { issuer: ourIssuer } = ctx.config;
  const entries = ctx.stack.current().workloadIssuers;
  const trusted = new Map<string, TrustedWorkloadIssuer>(entries.map((w) => [w.issuer, workloadTrust(ctx, w, ourIssuer)]));
  const token = await verifyWorkloadToken(assertion, { trustedIssuers: trusted, now: ctx.now() }, ctx.assertionReplay);
  const entry = entries.find((w) => w.issuer === token.issuer)!;
  if (entry.clientId !== client.id) throw invalidGrant("workload token's issuer does not act for this client");
  const resource = selectResource(ctx.stack.resources(), g.params.resource);
  const scope = grantedScope(ctx, g.params.scope, undefined, entry.role, resource);
  return issue(g, 'workload', { subject: federatedSubject(token.issuer, token.subject), role: entry.role, resource, scope, issuer: token.issuer });
}

function workloadTrust(ctx: AppContext, w: WorkloadIssuer, ourIssuer: string): TrustedWorkloadIssuer {
  return {
    keys: ctx.issuerKeys.keysAt(w.jwksUri),
    // MCP workload identity federation: the token endpoint URL; our issuer is accepted too.
    audience: w.audience ?? [`${ourIssuer}/token`, ourIssuer],
    ...(w.subjectPattern !== undefined ? { subjectPattern: new RegExp(w.subjectPattern) } : {}),
    jti: w.jti,
  };
}

/**
 * grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer (RFC 7523 §2.1): an ID-JAG (typ
 * oauth-id-jag+jwt) or a workload identity token. Failures follow RFC 7523 §3.1 and RFC 6749 §5.2:
 * invalid_request without an assertion, invalid_grant for a refused one, invalid_target and
 * invalid_scope; nothing of the assertion is echoed.
 */
export async function handler(g: JwtBearerRequest): Promise<TokenResponse> {
  const assertion = requireParam(g.params, 'assertion');
  return isIdJag(assertion) ? idJagGrant(g, assertion) : workloadGrant(g, assertion);
}
