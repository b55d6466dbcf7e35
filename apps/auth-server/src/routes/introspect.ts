import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { dpopBoundJkt, invalidClient } from '@stack/oauth';
import type { AppContext } from '../context.ts';
import type { ClientRecord } from '../services/clients.ts';
import { parseForm } from '../http/parse-form.ts';
import { authenticateClient } from '../http/authenticate-client.ts';
import { findRefreshToken } from '../services/refresh-tokens.ts';
import { verifyOwnAccessToken } from '../services/verify-access-token.ts';
import { requireParam } from '../grants/grant.ts';

type Introspection = { active: false } | ({ active: true } & Record<string, unknown>);
const INACTIVE: Introspection = { active: false };

/**
 * RFC 7662 §4: the endpoint must decide which callers may learn about which tokens. A client may
 * introspect the tokens issued to itself; only a client an operator marked as a resource server
 * (`clients set-resource-server`) may introspect anyone's. Self-registration is open, so without
 * this any registered confidential client could read another client's tokens (subject, scope,
 * role). Anyone else learns nothing: the answer is the same `active: false` as for an unknown token.
 */
function mayIntrospect(caller: ClientRecord, tokenClientId: string): boolean {
  return caller.resourceServer || tokenClientId === caller.id;
}

async function introspectAccess(ctx: AppContext, caller: ClientRecord, token: string): Promise<Introspection | undefined> {
  const c = await verifyOwnAccessToken(ctx, token);
  if (!c) return undefined;
  if (!mayIntrospect(caller, c.client_id)) return INACTIVE;
  if (await ctx.store.tokens.isAccessTokenRevoked(c.jti)) return INACTIVE;
  const jkt = dpopBoundJkt(c);
  return {
    active: true, scope: c.scope, client_id: c.client_id, sub: c.sub, aud: c.aud, iss: c.iss,
    exp: c.exp, iat: c.iat, jti: c.jti, token_type: 'access_token', role: c.role,
    // RFC 9449 §6.2: a resource server that introspects learns the key the token is bound to.
    ...(jkt === undefined ? {} : { cnf: { jkt } }),
  };
}

async function introspectRefresh(ctx: AppContext, caller: ClientRecord, token: string): Promise<Introspection | undefined> {
  const row = await findRefreshToken(ctx, token);
  if (!row) return undefined;
  const now = ctx.now();
  if (!mayIntrospect(caller, row.clientId) || row.revokedAt !== null || row.rotatedAt !== null || now >= row.expiresAt) return INACTIVE;
  return {
    active: true, scope: row.scope, client_id: row.clientId, sub: row.userId,
    exp: Math.floor(row.expiresAt / 1000), iat: Math.floor(row.createdAt / 1000), token_type: 'refresh_token',
  };
}

/** Step: RFC 7662 §2.1: the endpoint MUST require authorization; a client_id alone proves nothing. */
async function requireClientSecret(request: FastifyRequest): Promise<void> {
  if (request.oauthClient!.method === 'none') throw invalidClient('introspection requires a confidential client that authenticates with its secret');
}

/** Last step: what the caller may learn about the token. */
async function introspect(request: FastifyRequest): Promise<Introspection> {
  const { ctx } = request.server;
  const params = request.form!;
  const { client } = request.oauthClient!;
  const token = requireParam(params, 'token');
  const refreshFirst = params.token_type_hint === 'refresh_token';
  const result = refreshFirst
    ? (await introspectRefresh(ctx, client, token)) ?? (await introspectAccess(ctx, client, token))
    : (await introspectAccess(ctx, client, token)) ?? (await introspectRefresh(ctx, client, token));
  return result ?? INACTIVE;
}

/**
 * Token introspection (RFC 7662) for authenticated confidential clients: their own tokens, or any
 * token for a resource server. Unknown, expired, revoked, rotated and other clients' tokens are
 * simply `{ "active": false }`. parseForm → authenticateClient → requireClientSecret → introspect.
 */
export const introspectRoutes: FastifyPluginAsync = async (app) => {
  app.route({
    method: 'POST',
    url: '/introspect',
    config: { noStore: true },
    preHandler: [parseForm, authenticateClient, requireClientSecret],
    handler: introspect,
  });
};
