import { randomUUID } from 'node:crypto';
import { OAuthError, formatScope, intersectScopes, invalidScope, parseScope, selectResource, unauthorizedClient } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { ClientRecord } from '../services/clients.ts';
import { mintTokens, type TokenResponse } from '../services/token-response.ts';
import type { GrantRequest } from './grant.ts';

export const grantType = 'client_credentials';
export const parameters = ['scope', 'resource'] as const;
type ClientCredentialsRequest = GrantRequest<(typeof parameters)[number]>;

/**
 * The role the client acts with: set by an admin (`clients add --role`) and still declared by the
 * stack file. RFC 6749 §4.4: only confidential clients may use this grant.
 */
function clientRole(ctx: AppContext, client: ClientRecord): string {
  if (client.tokenEndpointAuthMethod === 'none') throw unauthorizedClient('client_credentials is only for confidential clients');
  if (client.role === null) throw unauthorizedClient('this client has no role to act with');
  if (!ctx.stack.current().roles.includes(client.role)) {
    ctx.audit.write({ event: 'token.role_not_declared', client: client.id, role: client.role, decision: 'deny', reason: 'the stack file does not declare the client\'s role' });
    throw unauthorizedClient("the client's role is not one this server grants tokens for");
  }
  return client.role;
}

/**
 * requested ∩ the client's scopes ∩ the role's scopes. Without `scope`, the client's scopes that the
 * resource's server uses (as at /authorize), capped by the role. Nothing left is invalid_scope.
 */
function grantedScope(ctx: AppContext, g: ClientCredentialsRequest, role: string, resource: string): string {
  const clientScopes = parseScope(g.client.scope);
  let asked: string[];
  try {
    asked = parseScope(g.params.scope).filter((s) => s !== 'offline_access');
  } catch (err) {
    throw err instanceof OAuthError ? invalidScope(err.description) : err;
  }
  const unknown = asked.find((s) => !ctx.stack.scopes().includes(s));
  if (unknown !== undefined) throw invalidScope(`unknown scope '${unknown.slice(0, 50)}'`);
  if (asked.length === 0) {
    const usedHere = clientScopes.filter((s) => ctx.stack.scopesFor(resource).includes(s));
    asked = usedHere.length ? usedHere : clientScopes;
  }
  const scopes = intersectScopes(asked, clientScopes, ctx.stack.current().scopesForRole(role));
  if (scopes.length === 0) throw invalidScope("none of the requested scopes is allowed for this client and its role");
  return formatScope(scopes);
}

/**
 * grant_type=client_credentials (RFC 6749 §4.4; OAuth 2.1 §4.2; MCP client credentials extension,
 * SEP-1046): the client acts as itself. The access token's subject is the client (RFC 9068 §2.2:
 * sub = client_id), its role the one an admin gave the client; `resource` is required (RFC 8707);
 * no refresh token (RFC 6749 §4.4.3: SHOULD NOT). The token is recorded by jti so that revoking the
 * client revokes it.
 */
export async function handler(g: ClientCredentialsRequest): Promise<TokenResponse> {
  const { ctx, client } = g;
  const role = clientRole(ctx, client);
  const resource = selectResource(ctx.stack.resources(), g.params.resource);
  const scope = grantedScope(ctx, g, role, resource);
  const now = ctx.now();
  const minted = await mintTokens(ctx, { familyId: `cc:${randomUUID()}`, clientId: client.id, userId: client.id, role, resource, scope, dpopJkt: g.dpop?.jkt }, now);
  await ctx.store.tokens.recordAccessToken(minted.rows.access);
  ctx.audit.write({
    event: 'token.issued', grant: grantType, client: client.id, role, resource, scope, jti: minted.access.jti, jkt: g.dpop?.jkt, refresh: false, address: g.address, decision: 'allow',
  });
  return minted.response;
}
