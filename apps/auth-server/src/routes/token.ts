import type { FastifyPluginAsync, FastifyReply } from 'fastify';
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

/** The token endpoint (OAuth 2.1 §3.2): authorization_code and refresh_token grants. */
export const tokenRoutes: FastifyPluginAsync = async (app) => {
  const { ctx } = app;
  const stop = startTokenSweeper(ctx, 60_000, (err) => app.log.error({ err }, 'token sweep failed'));
  app.addHook('onClose', async () => stop());

  app.post('/token', async (request, reply) => {
    noStore(reply);
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
