import type { FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { OAuthError } from '@stack/oauth';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * CORS for the route (Fetch standard, CORS protocol), with a preflight (OPTIONS) answer at its URL.
     * `'allowed-origins'`: an MCP endpoint, readable by pages from the allowed origins only (the origin
     * echoed, never `*`: it takes credentials in the Authorization header). `'any'`: public
     * documents (RFC 9728 metadata), readable from any origin.
     */
    crossOrigin?: 'allowed-origins' | 'any';
  }
}

type CrossOrigin = NonNullable<NonNullable<RouteOptions['config']>['crossOrigin']>;

// Only the request headers the MCP endpoint reads (the transport's, the 2026-07-28 routing
// headers, an API key, a DPoP proof); a browser client sending any other one is refused by its own preflight.
const MCP_REQUEST_HEADERS = 'Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Method, Mcp-Name, Mcp-Session-Id, Last-Event-ID, X-API-Key, DPoP';
// A browser script reads only safelisted response headers unless named here: the challenge
// (RFC 6750 §3, RFC 9728 §5.1) is what sends a client to the authorization server, and the
// DPoP-Nonce (RFC 9449 §9) what it must put in its next proof.
const MCP_EXPOSED_HEADERS = 'WWW-Authenticate, Mcp-Session-Id, Retry-After, DPoP-Nonce';
const PUBLIC_REQUEST_HEADERS = 'Accept, MCP-Protocol-Version';
const PREFLIGHT_MAX_AGE_SECONDS = '600';

/** Adds Origin to Vary: the answer differs by Origin, so no cache may hand it to another origin. */
function varyOrigin(reply: FastifyReply): void {
  const vary = reply.getHeader('vary');
  if (vary === undefined) reply.header('vary', 'Origin');
  else if (!/(^|,)\s*origin\s*(,|$)/i.test(String(vary))) reply.header('vary', `${String(vary)}, Origin`);
}

function allowedOrigin(request: FastifyRequest): string | undefined {
  const origin = request.headers.origin;
  return origin !== undefined && request.server.mcp.config.allowedOrigins.includes(origin) ? origin : undefined;
}

/**
 * Set in onRequest, before the route's own steps, so that every answer carries them: the 401
 * challenge, 403, 429 and the other errors the error handler writes included. An Origin that is not
 * allowed gets none; checkOrigin then refuses the request as before.
 */
function responseHeaders(mode: CrossOrigin) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (mode === 'any') {
      reply.header('access-control-allow-origin', '*');
      return;
    }
    varyOrigin(reply);
    const origin = allowedOrigin(request);
    if (origin === undefined) return;
    reply.header('access-control-allow-origin', origin);
    reply.header('access-control-expose-headers', MCP_EXPOSED_HEADERS);
  };
}

/**
 * The preflight: no authentication (browsers send no credentials with it), never audited nor
 * gated, as it calls nothing. An Origin that is not allowed gets a 403 without CORS headers, so the
 * browser never sends the real request.
 */
function preflight(mode: CrossOrigin, methods: ReadonlySet<string>) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const allowMethods = [...methods].join(', ');
    if (mode === 'any') {
      reply.header('access-control-allow-origin', '*');
      reply.header('access-control-allow-headers', PUBLIC_REQUEST_HEADERS);
    } else {
      varyOrigin(reply);
      if (request.headers.origin !== undefined) {
        const origin = allowedOrigin(request);
        if (origin === undefined) throw new OAuthError('access_denied', 'origin is not allowed', 403);
        reply.header('access-control-allow-origin', origin);
        reply.header('access-control-allow-headers', MCP_REQUEST_HEADERS);
      }
    }
    // Without an Origin this is a plain OPTIONS request (RFC 9110 §9.3.7): the methods, nothing more.
    reply.header('allow', `${allowMethods}, OPTIONS`);
    if (request.headers.origin !== undefined) {
      reply.header('access-control-allow-methods', allowMethods);
      reply.header('access-control-max-age', PREFLIGHT_MAX_AGE_SECONDS);
    }
    return reply.status(204).send();
  };
}

function routeMethods(route: RouteOptions): string[] {
  const methods = Array.isArray(route.method) ? route.method : [route.method];
  return methods.filter((m) => m !== 'HEAD' && m !== 'OPTIONS');
}

/**
 * Applies each route's `config.crossOrigin`: the response headers first among its onRequest steps,
 * and one OPTIONS route per URL answering preflights for the methods of every route at that URL
 * that asks for it (POST, GET and DELETE of an MCP endpoint). Call on the root instance before
 * any route is added (a hook added there sees the routes of every plugin).
 */
export function crossOriginRoutes(app: FastifyInstance): void {
  const urls = new Map<string, { mode: CrossOrigin; methods: Set<string> }>();
  app.addHook('onRoute', (route) => {
    const mode = route.config?.crossOrigin;
    if (mode === undefined) return;
    const own = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
    route.onRequest = [responseHeaders(mode), ...own];
    // Fastify's automatic HEAD route of a GET passes here too; it adds no method.
    const methods = routeMethods(route);
    if (methods.length === 0) return;
    const known = urls.get(route.url);
    if (known) {
      if (known.mode !== mode) throw new Error(`routes at ${route.url} ask for different crossOrigin settings`);
      for (const m of methods) known.methods.add(m);
      return;
    }
    const entry = { mode, methods: new Set(methods) };
    urls.set(route.url, entry);
    // On this (root) instance with the complete URL; the OPTIONS route has no crossOrigin, so no loop.
    // The set is read per request, so routes added later at the same URL are in the answer.
    app.options(route.url, preflight(mode, entry.methods));
  });
}
