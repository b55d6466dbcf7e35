import { formatScope, intersectScopes, invalidScope, parseScope, type Role } from '@stack/oauth';
import type { StackConfig } from '@stack/stack-config';
import type { AppContext } from '../context.ts';
import type { NewTokens } from '../store/index.ts';
import { signAccessToken, type IssuedAccessToken } from './access-tokens.ts';
import { newRefreshToken, type NewRefreshToken } from './refresh-tokens.ts';

/** RFC 6749 §5.1 successful token response. */
export interface TokenResponse {
  access_token: string;
  /** RFC 9449 §5: 'DPoP' when the access token is bound to the request's proof key. */
  token_type: 'Bearer' | 'DPoP';
  expires_in: number;
  scope: string;
  refresh_token?: string;
}

export interface TokenGrantInput {
  familyId: string;
  clientId: string;
  userId: string;
  role: Role;
  resource: string;
  /** Scope of the access token (already narrowed by the request). */
  scope: string;
  /**
   * When a refresh token is issued: its scope (the whole grant), absolute expiry and the DPoP key it
   * is bound to (RFC 9449 §5: a public client's, null otherwise).
   */
  refresh?: { scope: string; expiresAt: number; codeHash: string | null; dpopJkt: string | null };
  /**
   * The thumbprint of the request's DPoP proof key (`g.dpop?.jkt`): the access token is bound to it
   * (RFC 9449 §6.1). Required, so that no grant can forget it and answer a DPoP request with a bearer token.
   */
  dpopJkt: string | undefined;
}

/** Tokens signed and generated but not yet stored: `rows` go to the store step that commits the grant. */
export interface MintedTokens {
  access: IssuedAccessToken;
  refresh: NewRefreshToken | undefined;
  response: TokenResponse;
  rows: NewTokens;
}

/**
 * The scopes an access token may carry: the granted ones capped by what the stack file lets the
 * user's current role be granted, so a role downgrade (or a scope taken from the role or removed
 * from the file) takes effect at the next refresh.
 */
export function effectiveScope(stack: StackConfig, granted: string, role: Role): string {
  const scopes = intersectScopes(parseScope(granted), stack.scopesForRole(role));
  if (scopes.length === 0) throw invalidScope("none of the granted scopes is allowed for the user's role");
  return formatScope(scopes);
}

/**
 * Signs the access token (RFC 9068, audience = resource) and creates the refresh token. Async work
 * happens here, before the store step that commits the grant.
 */
export async function mintTokens(ctx: AppContext, g: TokenGrantInput, now: number): Promise<MintedTokens> {
  const access = await signAccessToken(ctx, { sub: g.userId, clientId: g.clientId, scope: g.scope, resource: g.resource, role: g.role, dpopJkt: g.dpopJkt });
  const refresh = g.refresh
    ? newRefreshToken({
      familyId: g.familyId, clientId: g.clientId, userId: g.userId, scope: g.refresh.scope, resource: g.resource,
      codeHash: g.refresh.codeHash, now, expiresAt: g.refresh.expiresAt, dpopJkt: g.refresh.dpopJkt,
    })
    : undefined;
  const response: TokenResponse = {
    access_token: access.token,
    token_type: g.dpopJkt === undefined ? 'Bearer' : 'DPoP',
    expires_in: access.expiresIn,
    scope: g.scope,
    ...(refresh ? { refresh_token: refresh.token } : {}),
  };
  return {
    access,
    refresh,
    response,
    // The access token is recorded by jti so that revoking its family (or its code) revokes it too.
    rows: {
      refresh: refresh?.row,
      access: { jti: access.jti, familyId: g.familyId, clientId: g.clientId, userId: g.userId, expiresAt: access.expiresAt },
    },
  };
}
