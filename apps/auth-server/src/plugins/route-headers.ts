import fp from 'fastify-plugin';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** OAuth 2.1 §3.2.3, RFC 7009, RFC 7662, RFC 7591: the response (errors included) must not be cached. */
    noStore?: boolean;
    /**
     * Readable from any origin (`access-control-allow-origin: *`); `'with-preflight'` also answers CORS
     * preflights (OPTIONS) for the route's methods. No cookies are involved on such routes, so `*` grants
     * nothing: a token still needs a code and its PKCE verifier, a secret, or the token itself.
     */
    cors?: boolean | 'with-preflight';
  }
}

// `dpop`: RFC 9449 §4.1 proofs at the token endpoint from browser-based clients.
const PREFLIGHT_HEADERS = 'authorization, content-type, accept, mcp-protocol-version, dpop';
/** Response headers a cross-origin script may read: the server nonce to put in the next proof (RFC 9449 §8). */
const EXPOSED_HEADERS = 'dpop-nonce';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

function headersHook(noStore: boolean, cors: boolean) {
  return async (_request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (noStore) {
      reply.header('cache-control', 'no-store');
      reply.header('pragma', 'no-cache');
    }
    if (cors) {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-expose-headers', EXPOSED_HEADERS);
    }
  };
}

function routeMethods(route: RouteOptions): string[] {
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  return methods.filter((m) => m !== 'HEAD' && m !== 'OPTIONS');
}

function addPreflight(app: FastifyInstance, route: RouteOptions): void {
  const allowMethods = routeMethods(route).join(', ');
  app.options(route.url, async (_request, reply) => {
    reply.header('access-control-allow-origin', '*');
    reply.header('access-control-allow-methods', allowMethods);
    reply.header('access-control-allow-headers', PREFLIGHT_HEADERS);
    reply.header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS);
    return reply.status(204).send();
  });
}

/**
 * Response headers a route asks for in its `config` (`noStore`, `cors`), set in onRequest so that
 * every answer of the route carries them, errors from parsing and authentication included.
 */
export const routeHeaders = fp(
  async (app) => {
    app.addHook('onRoute', (route) => {
      const config = route.config ?? {};
      const noStore = config.noStore === true;
      const cors = config.cors !== undefined && config.cors !== false;
      if (!noStore && !cors) return;
      const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      // First, so a route's own onRequest steps (rate limits, content checks) answer with them too.
      route.onRequest = [headersHook(noStore, cors), ...own];
      // Registered on this (root) instance with the complete URL; the OPTIONS route has no cors config, so no loop.
      // Fastify's automatic HEAD route of a GET passes here too: only the route with real methods adds one.
      if (config.cors === 'with-preflight' && routeMethods(route).length > 0) addPreflight(app, route);
    });
  },
  { name: 'route-headers' },
);
