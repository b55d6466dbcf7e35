import type { FastifyPluginAsync } from 'fastify';

/**
 * RFC 9728 protected resource metadata, at the path-inserted URL (§3.1) and the root, the two
 * well-known locations MCP clients try. `resource` is exactly the URL clients connect to.
 */
export const metadataRoutes: FastifyPluginAsync = async (app) => {
  const { config, policy } = app.mcp;
  const paths = new Set([`/.well-known/oauth-protected-resource${config.mcpPath === '/' ? '' : config.mcpPath}`, '/.well-known/oauth-protected-resource']);
  for (const url of paths) {
    // Browser-based MCP clients read this cross-origin before they have any credential; it is public.
    app.get(url, { config: { crossOrigin: 'any' } }, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return {
        resource: config.publicUrl,
        authorization_servers: [config.issuer],
        // MCP 2026-07-28: never offline_access here; the policy refuses it as a tool scope.
        scopes_supported: policy.current().scopesSupported.filter((s) => s !== 'offline_access'),
        bearer_methods_supported: ['header'],
        resource_name: 'MCP database tools',
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
