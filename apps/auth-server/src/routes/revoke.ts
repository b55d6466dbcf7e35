import type { FastifyPluginAsync, FastifyRequest, FastifyReply } from 'fastify';
import { parseForm } from '../http/parse-form.ts';
import { authenticateClient } from '../http/authenticate-client.ts';
import type { ClientRecord } from '../services/clients.ts';
import type { AppContext } from '../context.ts';
import { findRefreshToken } from '../services/refresh-tokens.ts';
import { verifyOwnAccessToken } from '../services/verify-access-token.ts';
import { requireParam } from '../grants/grant.ts';

type Outcome = { kind: 'refresh_token' | 'access_token'; user: string; revoked: boolean } | undefined;

/** A refresh token revokes its whole family (RFC 7009 §2.1: the AS SHOULD also revoke related tokens). */
async function revokeRefresh(ctx: AppContext, client: ClientRecord, token: string): Promise<Outcome> {
  const row = await findRefreshToken(ctx, token);
  if (!row) return undefined;
  if (row.clientId !== client.id) return { kind: 'refresh_token', user: row.userId, revoked: false };
  const now = ctx.now();
  await ctx.store.tokens.revokeFamilies([row.familyId], now);
  return { kind: 'refresh_token', user: row.userId, revoked: true };
}

async function revokeAccess(ctx: AppContext, client: ClientRecord, token: string): Promise<Outcome> {
  const claims = await verifyOwnAccessToken(ctx, token);
  if (!claims) return undefined;
  if (claims.client_id !== client.id) return { kind: 'access_token', user: claims.sub, revoked: false };
  const now = ctx.now();
  await ctx.store.tokens.revokeAccessToken(claims.jti, claims.exp * 1000, now);
  return { kind: 'access_token', user: claims.sub, revoked: true };
}

/** Last step: revokes the token if it is the client's; RFC 7009 §2.2: 200 whether or not anything was revoked. */
async function revoke(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const { ctx } = request.server;
  const params = request.form!;
  const { client } = request.oauthClient!;
  const token = requireParam(params, 'token');
  // RFC 7009 §2.1: the hint only orders the lookups; an unknown hint is ignored.
  const looksLikeJwt = token.split('.').length === 3;
  const accessFirst = params.token_type_hint === 'access_token' || (params.token_type_hint !== 'refresh_token' && looksLikeJwt);
  const outcome = accessFirst
    ? (await revokeAccess(ctx, client, token)) ?? (await revokeRefresh(ctx, client, token))
    : (await revokeRefresh(ctx, client, token)) ?? (await revokeAccess(ctx, client, token));
  if (outcome) {
    ctx.audit.write({
      event: 'token.revoked', kind: outcome.kind, user: outcome.user, client: client.id, address: request.ip,
      decision: outcome.revoked ? 'allow' : 'deny', reason: outcome.revoked ? undefined : 'token belongs to another client',
    });
  }
  return reply.status(200).send();
}

/** Token revocation (RFC 7009): parseForm → authenticateClient → revoke; never cached, readable by browser-based clients. */
export const revokeRoutes: FastifyPluginAsync = async (app) => {
  app.route({
    method: 'POST',
    url: '/revoke',
    config: { noStore: true, cors: 'with-preflight' },
    preHandler: [parseForm, authenticateClient],
    handler: revoke,
  });
};
