import type { FastifyPluginAsync } from 'fastify';
import { OAuthError } from '@stack/oauth';
import { checkOrigin } from '../http/check-origin.ts';
import { authenticateRequest } from '../http/authenticate-request.ts';
import { gateRequest } from '../http/gate-request.ts';
import { limitInFlight } from '../http/in-flight.ts';
import { serveMcp } from '../http/serve-mcp.ts';

/**
 * POST <mcp path>: origin check → authenticate (before the body is read) → body limit and JSON
 * parsing → requests in flight → rate limit → authorize → validate → the SDK. Stateless: GET
 * (SSE stream) and DELETE (session end) have nothing to serve. CORS for browser clients from the
 * allowed origins, with its preflight, comes from `config.crossOrigin` (http/cors.ts).
 */
export const mcpRoutes: FastifyPluginAsync = async (app) => {
  const url = app.mcp.config.mcpPath;
  app.route({
    method: 'POST',
    url,
    config: { crossOrigin: 'allowed-origins' },
    onRequest: [checkOrigin, authenticateRequest],
    preHandler: [limitInFlight, gateRequest],
    handler: serveMcp,
  });
  app.route({
    method: ['GET', 'DELETE'],
    url,
    config: { crossOrigin: 'allowed-origins' },
    onRequest: [checkOrigin],
    handler: async (_request, reply) => {
      reply.header('allow', 'POST');
      throw new OAuthError('method_not_allowed', 'this endpoint is stateless: use POST', 405);
    },
  });
};
