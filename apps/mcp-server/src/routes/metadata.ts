import type { FastifyPluginAsync } from 'fastify';

/**
 * RFC 9728 protected resource metadata, at the path-inserted URL (§3.1) and the root, the two
 * well-known locations MCP clients try. `resource` is exactly the URL clients connect to.
 */
export const metadataRoutes: FastifyPluginAsync = async (app) => {
  const { config, endpoints } = app.mcp;
  // Each protected server that takes access tokens has its own document at its path-inserted URL;
  // the root one describes the built-in server (the first endpoint), as before there were
  // several. A server that takes no access token names no authorization server: none (404).
  const served = endpoints.filter((e) => e.authenticator.oauth).map((e) => ({ e, url: new URL(e.resourceMetadataUrl).pathname }));
  if (endpoints[0]?.authenticator.oauth) served.push({ e: endpoints[0], url: '/.well-known/oauth-protected-resource' });
  const seen = new Set<string>();
  for (const { e, url } of served) {
    if (seen.has(url)) continue;
    seen.add(url);
    // Browser-based MCP clients read this cross-origin before they have any credential; it is public.
    app.get(url, { config: { crossOrigin: 'any' } }, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return {
        resource: e.resourceUrl,
        authorization_servers: [config.issuer],
        // MCP 2026-07-28: never offline_access here; the policy refuses it as a tool scope.
        scopes_supported: e.policy().scopesSupported.filter((s) => s !== 'offline_access'),
        bearer_methods_supported: ['header'],
        resource_name: e.title,
        // RFC 9728 §2 (defined by RFC 9449): the proof algorithms, and whether bearer tokens are refused.
        ...(e.authenticator.dpop
          ? { dpop_signing_alg_values_supported: e.authenticator.dpop.algs, dpop_bound_access_tokens_required: e.authenticator.dpop.required }
          : {}),
      };
    });
  }
};

/** The path-inserted metadata URL for a resource URL (RFC 9728 §3.1). */
export function resourceMetadataUrl(resource: string): string {
  const u = new URL(resource);
  const path = u.pathname === '/' ? '' : u.pathname;
  return `${u.origin}/.well-known/oauth-protected-resource${path}`;
}
