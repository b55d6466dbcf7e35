import type { FastifyPluginAsync } from 'fastify';

/** Public signing keys only (kid, alg RS256, use sig); retired keys stay until their tokens expire. */
export const jwksRoutes: FastifyPluginAsync = async (app) => {
  app.get('/jwks', async (_req, reply) => {
    const { keys } = await app.ctx.keys.jwks();
    // Only public members are stored in publicJwk; this filter is a second guard.
    const pub = keys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use }));
    reply.header('cache-control', 'public, max-age=60');
    reply.header('access-control-allow-origin', '*');
    return { keys: pub };
  });
};
