import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Endpoint } from '../endpoint.ts';
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
  for (const endpoint of app.mcp.endpoints) mcpEndpointRoutes(app, endpoint);
};

/** The routes of one protected server, at its path. */
function mcpEndpointRoutes(app: FastifyInstance, endpoint: Endpoint): void {
  const url = endpoint.path;
  app.route({
    method: 'POST',
    url,
    config: { crossOrigin: 'allowed-origins', endpoint },
    onRequest: [checkOrigin, authenticateRequest],
    preHandler: [limitInFlight, gateRequest],
    handler: serveMcp,
  });
  app.route({
    method: ['GET', 'DELETE'],
    url,
    config: { crossOrigin: 'allowed-origins', endpoint },
    onRequest: [checkOrigin],
    handler: async (_request, reply) => {
      reply.header('allow', 'POST');
      throw new OAuthError('method_not_allowed', 'this endpoint is stateless: use POST', 405);
    },
  });
}
