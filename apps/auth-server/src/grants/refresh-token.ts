import { formatScope, invalidGrant, invalidScope, parseScope, OAuthError } from '@stack/oauth';
import { findRefreshToken, type RefreshTokenRecord } from '../services/refresh-tokens.ts';
import { openSuccessor, sealSuccessor } from '../services/successor-seal.ts';
import { effectiveScope, mintTokens, type TokenResponse } from '../services/token-response.ts';
import { activeUser, checkDpopBound, checkResource, refreshTokenJkt, requireParam, type GrantRequest } from './grant.ts';

export const grantType = 'refresh_token';
export const parameters = ['refresh_token', 'scope', 'resource'] as const;
type RefreshGrantRequest = GrantRequest<(typeof parameters)[number]>;

/** What is sealed for the grace window: the successor response plus when its access token expires. */
interface SealedSuccessor {
  response: TokenResponse;
  accessExpiresAt: number;
}

/** A usable token of this client: unknown, revoked, expired or foreign tokens are invalid_grant. */
function checkToken(g: RefreshGrantRequest, row: RefreshTokenRecord | undefined, now: number): RefreshTokenRecord {
  // OAuth 2.1 §4.3.1: a refresh token is bound to the client it was issued to.
  if (!row || row.clientId !== g.client.id) throw invalidGrant('refresh token is invalid');
  if (row.revokedAt !== null) throw invalidGrant('refresh token has been revoked');
  if (now >= row.expiresAt) throw invalidGrant('refresh token has expired');
  // Before reuse detection: a bound token presented without its key is refused and revokes nothing.
  checkDpopBound(row.dpopJkt, g, 'refresh token');
  return row;
}

/** RFC 6749 §6: the requested scope may narrow the grant, never widen it. */
function requestedScope(g: RefreshGrantRequest, granted: string): string {
  if (g.params.scope === undefined) return granted;
  const asked = parseScope(g.params.scope);
  if (asked.length === 0) return granted;
  const have = parseScope(granted);
  const extra = asked.filter((s) => !have.includes(s));
  if (extra.length > 0) throw invalidScope(`'scope' exceeds the scope of the grant: ${extra.join(' ')}`);
  return formatScope(asked);
}

/**
 * A token that was already rotated. Within REFRESH_GRACE_SECONDS, and while its successor is still
 * unused, the same presenter gets the very same successor pair (concurrent refreshes by one client
 * must not fork or kill the family). Otherwise it is reuse (RFC 9700 §4.14.2): the whole family is
 * revoked, the successor and its access tokens included.
 */
async function replayOrRevoke(g: RefreshGrantRequest, row: RefreshTokenRecord, presented: string, now: number): Promise<TokenResponse> {
  const { ctx } = g;
  const inGrace = row.rotatedAt !== null && now - row.rotatedAt <= ctx.config.refreshGrace * 1000;
  if (inGrace && row.successorSealed && row.successorId) {
    const successor = await ctx.store.tokens.findRefreshById(row.successorId);
    if (successor && successor.rotatedAt === null && successor.revokedAt === null) {
      // A successor bound to a DPoP key goes only to a request proving that key (RFC 9449 §5).
      checkDpopBound(successor.dpopJkt, g, 'refresh token');
      const sealed = openSuccessor<SealedSuccessor>(presented, row.id, row.successorSealed);
      return { ...sealed.response, expires_in: Math.max(0, Math.ceil((sealed.accessExpiresAt - now) / 1000)) };
    }
  }
  const revoked = await ctx.store.tokens.revokeFamilies([row.familyId], now);
  ctx.audit.write({
    event: 'refresh.reuse_detected', user: row.userId, client: row.clientId, family: row.familyId, address: g.address,
    decision: 'deny', reason: `rotated refresh token presented again; ${revoked} refresh token(s) revoked`,
  });
  throw invalidGrant('refresh token has already been used');
}

// Losing the rotation race sends a request back to read the winner's successor; two rounds always
// suffice, the third guards against a bug turning into a loop.
const MAX_ROUNDS = 3;

/** grant_type=refresh_token (OAuth 2.1 §4.3) with rotation on every use (MCP: MUST for public clients). */
export async function handler(g: RefreshGrantRequest): Promise<TokenResponse> {
  const { ctx, client } = g;
  const presented = requireParam(g.params, 'refresh_token');
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const now = ctx.now();
    const row = checkToken(g, await findRefreshToken(ctx, presented), now);
    const scope = requestedScope(g, row.scope);
    checkResource(ctx, g.params.resource, row.resource);
    if (row.rotatedAt !== null) return replayOrRevoke(g, row, presented, now);
    const user = await activeUser(ctx, row.userId);

    const minted = await mintTokens(ctx, {
      familyId: row.familyId, clientId: client.id, userId: user.id, role: user.role, resource: row.resource,
      scope: effectiveScope(ctx.stack.current(), scope, user.role),
      // RFC 6749 §6: the new refresh token has the scope of the old one; the family keeps its absolute expiry.
      // RFC 9449 §5: a bound token's successor is bound to the same key (checkToken compared the proof's).
      refresh: { scope: row.scope, expiresAt: row.expiresAt, codeHash: row.codeHash, dpopJkt: refreshTokenJkt(g) },
      dpopJkt: g.dpop?.jkt,
    }, now);
    const successor: SealedSuccessor = { response: minted.response, accessExpiresAt: minted.access.expiresAt };
    const sealed = sealSuccessor(presented, row.id, successor);

    if (await ctx.store.tokens.rotate(row.id, sealed, ctx.now(), { ...minted.rows, refresh: minted.refresh!.row })) {
      ctx.audit.write({
        event: 'token.refreshed', user: user.id, client: client.id, family: row.familyId, resource: row.resource,
        scope: minted.response.scope, jti: minted.access.jti, jkt: g.dpop?.jkt, address: g.address, decision: 'allow',
      });
      return minted.response;
    }
    // Another request rotated this token while we were signing: our tokens were never stored; read again.
  }
  throw new OAuthError('server_error', 'refresh token rotation did not settle', 500);
}
