import { invalidGrant, verifyCodeVerifier } from '@stack/oauth';
import { tokenHash } from '@stack/crypto';
import { findAuthorizationCode, type AuthorizationCodeRecord } from '../services/codes.ts';
import { familyIdForCode, revokeTokensFromCode } from '../services/refresh-tokens.ts';
import { effectiveScope, mintTokens, type TokenResponse } from '../services/token-response.ts';
import { activeUser, checkDpopBound, checkResource, refreshTokenJkt, requireParam, type GrantRequest } from './grant.ts';

export const grantType = 'authorization_code';
export const parameters = ['code', 'redirect_uri', 'code_verifier', 'resource'] as const;
type CodeGrantRequest = GrantRequest<(typeof parameters)[number]>;

/** Code reuse (OAuth 2.1 §4.1.3, RFC 9700 §4.5.3.1): refuse it and revoke everything issued from the code. */
async function rejectReuse(g: CodeGrantRequest, code: AuthorizationCodeRecord): Promise<never> {
  const now = g.ctx.now();
  const revoked = await revokeTokensFromCode(g.ctx, code.codeHash, now);
  g.ctx.audit.write({
    event: 'code.reuse_detected', user: code.userId, client: g.client.id, address: g.address,
    decision: 'deny', reason: `authorization code used twice; ${revoked} refresh token(s) revoked`,
  });
  throw invalidGrant('authorization code has already been used');
}

/** Every binding of the code (OAuth 2.1 §4.1.3): client, redirect URI, lifetime, PKCE and resource. */
function checkCode(g: CodeGrantRequest, code: AuthorizationCodeRecord, now: number): void {
  const { params } = g;
  if (code.clientId !== g.client.id) throw invalidGrant('authorization code was issued to another client');
  const redirectUri = requireParam(params, 'redirect_uri');
  if (redirectUri !== code.redirectUri) throw invalidGrant("'redirect_uri' does not match the authorization request");
  if (now >= code.expiresAt) throw invalidGrant('authorization code has expired');
  verifyCodeVerifier(params.code_verifier, code.codeChallenge);
  checkResource(g.ctx, params.resource, code.resource);
  checkDpopBound(code.dpopJkt, g, 'authorization code');
}

/** grant_type=authorization_code (OAuth 2.1 §4.1.3). */
export async function handler(g: CodeGrantRequest): Promise<TokenResponse> {
  const { ctx, client, params } = g;
  const value = requireParam(params, 'code');
  const code = await findAuthorizationCode(ctx, value);
  if (!code) throw invalidGrant('authorization code is invalid');
  if (code.consumedAt !== null) return rejectReuse(g, code);
  const now = ctx.now();
  checkCode(g, code, now);
  const user = await activeUser(ctx, code.userId);

  const codeHash = tokenHash(value);
  const minted = await mintTokens(ctx, {
    familyId: familyIdForCode(codeHash),
    clientId: client.id,
    userId: user.id,
    role: user.role,
    resource: code.resource,
    scope: effectiveScope(ctx.stack.current(), code.scope, user.role),
    refresh: client.grantTypes.includes('refresh_token')
      ? { scope: code.scope, expiresAt: now + ctx.config.refreshTokenTtl * 1000, codeHash, dpopJkt: refreshTokenJkt(g) }
      : undefined,
    dpopJkt: g.dpop?.jkt,
  }, now);

  // Consuming the code and storing its tokens is one atomic step: a concurrent redemption either
  // loses the conditional UPDATE there or finds the tokens already stored when it revokes them.
  if (!(await ctx.store.codes.redeem(codeHash, ctx.now(), minted.rows))) return rejectReuse(g, code);

  ctx.audit.write({
    event: 'token.issued', grant: 'authorization_code', user: user.id, client: client.id, resource: code.resource,
    scope: minted.response.scope, jti: minted.access.jti, refresh: minted.refresh !== undefined, jkt: g.dpop?.jkt, address: g.address, decision: 'allow',
  });
  return minted.response;
}
