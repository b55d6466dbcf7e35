import { checkDpopBinding, invalidGrant, invalidRequest, invalidTarget, normaliseResource, type VerifiedDpopProof } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { ClientRecord } from '../services/clients.ts';
import type { AuthenticatedClient } from '../services/client-auth.ts';
import type { TokenResponse } from '../services/token-response.ts';
import { findUserById, type UserRecord } from '../services/users.ts';

/**
 * What a grant handler gets: an authenticated client that may use the grant, and of the form
 * parameters only those the grant declares (so a grant cannot read a parameter it did not declare).
 */
export interface GrantRequest<P extends string = string> {
  ctx: AppContext;
  client: ClientRecord;
  params: Partial<Record<P, string>>;
  address: string;
  /** The request's checked DPoP proof (RFC 9449 §5); undefined for a bearer token request. */
  dpop: VerifiedDpopProof | undefined;
}

/** A grant type (OAuth 2.1 §4): what each module in grants/ exports. */
export interface Grant<P extends string = string> {
  grantType: string;
  /** The form parameters the grant reads, besides grant_type and client authentication. */
  parameters: readonly P[];
  handler: (g: GrantRequest<P>) => Promise<TokenResponse>;
  /** Whether the grant is offered now (default: always); otherwise unsupported_grant_type. */
  enabled?: (ctx: AppContext) => boolean;
  /** The stack file says which clients may use the grant: the registered grant_types are not checked. */
  clientsFromStack?: boolean;
  /**
   * For a request without client authentication: the client the grant itself identifies (a workload
   * token names its client), or undefined to require client authentication as usual.
   */
  implicitClient?: (ctx: AppContext, form: Record<string, string>, address: string) => Promise<AuthenticatedClient | undefined>;
}

/** The declared parameters of a form. Repeated ones never get here: parseForm refuses them all (OAuth 2.1 §3.1). */
export function pickParams<P extends string>(form: Record<string, string>, parameters: readonly P[]): Partial<Record<P, string>> {
  const out: Partial<Record<P, string>> = {};
  for (const name of parameters) if (Object.hasOwn(form, name)) out[name] = form[name];
  return out;
}

export function requireParam<P extends string>(params: Partial<Record<P, string>>, name: P): string {
  const v = params[name];
  if (v === undefined || v === '') throw invalidRequest(`missing required parameter '${name}'`);
  return v;
}

/**
 * RFC 8707 §2: a `resource` sent at the token endpoint must be the one the grant is bound to, and
 * that resource must still be served here. Both sides are compared normalised, as /authorize compares
 * them (MCP: implementations SHOULD accept an uppercase scheme or host), so a client that sends the
 * same value at both endpoints is never refused here.
 */
export function checkResource(ctx: AppContext, requested: string | undefined, bound: string): void {
  if (requested !== undefined && !sameResource(requested, bound)) throw invalidTarget("'resource' does not match the resource the grant was issued for");
  if (!ctx.stack.resources().includes(bound)) throw invalidTarget('the resource is not served by this authorization server');
}

function sameResource(a: string, b: string): boolean {
  const na = normaliseResource(a);
  return na !== undefined && na === normaliseResource(b);
}

/**
 * The user a grant belongs to; a disabled or deleted user ends every grant (invalid_grant). So does
 * a role the stack file no longer declares (taken out while users still hold it): no new tokens
 * until an operator gives the user a declared role, with an audit line saying why.
 */
export async function activeUser(ctx: AppContext, userId: string): Promise<UserRecord> {
  const user = await findUserById(ctx.store, userId);
  if (!user || user.disabledAt !== null) throw invalidGrant('the user account is disabled');
  if (!ctx.stack.current().roles.includes(user.role)) {
    ctx.audit.write({ event: 'token.role_not_declared', user: user.id, role: user.role, decision: 'deny', reason: 'the stack file does not declare the user\'s role' });
    throw invalidGrant("the user's role is not one this server grants tokens for");
  }
  return user;
}

/**
 * RFC 9449 §5 (refresh tokens) and §10 (`dpop_jkt` codes): a grant bound to a DPoP key is usable only
 * with a valid proof by that key; without one, or with another key, the grant is invalid_grant.
 */
export function checkDpopBound(boundJkt: string | null, g: GrantRequest, what: string): void {
  if (boundJkt !== null && (g.dpop === undefined || !checkDpopBinding(boundJkt, g.dpop.jkt))) {
    throw invalidGrant(`the ${what} is bound to a DPoP key: present a DPoP proof signed with that key`);
  }
}

/**
 * RFC 9449 §5: a refresh token issued to a public client with a DPoP proof is bound to the proof's
 * key; a confidential client's is not (it is already bound to the client's authentication).
 */
export function refreshTokenJkt(g: GrantRequest): string | null {
  return g.dpop !== undefined && g.client.tokenEndpointAuthMethod === 'none' ? g.dpop.jkt : null;
}
