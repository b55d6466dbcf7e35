import type { FastifyPluginAsync } from 'fastify';
import { JWKS_MAX_AGE_SEC } from '../services/keys.ts';

/**
 * Public signing keys only (kid, alg RS256, use sig): the current key, the next one (published
 * before it signs) and retired keys until their tokens expire.
 */
export const jwksRoutes: FastifyPluginAsync = async (app) => {
  app.get('/jwks', { config: { cors: true } }, async (_req, reply) => {
    const { keys } = await app.ctx.keys.jwks();
    // Only public members are stored in publicJwk; this filter is a second guard.
    const pub = keys.map(({ kty, n, e, kid, alg, use }) => ({ kty, n, e, kid, alg, use }));
    reply.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SEC}`);
    return { keys: pub };
  });
};
