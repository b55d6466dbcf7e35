import type { FastifyInstance, FastifyPluginAsync, FastifyReply } from 'fastify';
import { invalidRequest, unauthorizedClient, unsupportedGrantType } from '@stack/oauth';
import { formParams } from '../plugins/form-body.ts';
import { authenticateClient } from '../services/client-auth.ts';
import { startTokenSweeper } from '../services/token-sweeper.ts';
import { grants } from '../grants/index.ts';

/** OAuth 2.1 §3.2.3: token responses must not be cached. */
export function noStore(reply: FastifyReply): void {
  reply.header('cache-control', 'no-store');
  reply.header('pragma', 'no-cache');
}

/**
 * Browser-based MCP clients (e.g. the Inspector) call the token and revocation endpoints from another
 * origin. No cookies are involved, so `*` grants nothing: a token still needs a code and its PKCE verifier.
 */
export function allowCors(reply: FastifyReply): void {
  reply.header('access-control-allow-origin', '*');
}

/** Answers CORS preflights for a POST endpoint. */
export function corsPreflight(app: FastifyInstance, url: string): void {
  app.options(url, async (_request, reply) => {
    allowCors(reply);
    reply.header('access-control-allow-methods', 'POST');
    reply.header('access-control-allow-headers', 'authorization, content-type, accept, mcp-protocol-version');
    reply.header('access-control-max-age', '600');
    return reply.status(204).send();
  });
}

/** The token endpoint (OAuth 2.1 §3.2): authorization_code and refresh_token grants. */
export const tokenRoutes: FastifyPluginAsync = async (app) => {
  const { ctx } = app;
  const stop = startTokenSweeper(ctx, 60_000, (err) => app.log.error({ err }, 'token sweep failed'));
  app.addHook('onClose', async () => stop());

  corsPreflight(app, '/token');
  app.post('/token', async (request, reply) => {
    noStore(reply);
    allowCors(reply);
    const params = formParams(request);
    // The grant type is checked before client authentication so junk requests cost no argon2 work.
    const grantType = params.grant_type;
    if (!grantType) throw invalidRequest("missing required parameter 'grant_type'");
    const grant = grants.get(grantType);
    if (!grant) throw unsupportedGrantType(`grant_type '${grantType.slice(0, 50)}' is not supported`);
    const { client } = await authenticateClient(ctx, request, params);
    if (!client.grantTypes.includes(grantType)) throw unauthorizedClient(`this client may not use grant_type '${grantType}'`);
    return grant({ ctx, client, params, address: request.ip });
  });
};
