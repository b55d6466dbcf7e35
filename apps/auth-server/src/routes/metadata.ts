import type { FastifyPluginAsync } from 'fastify';
import { DPOP_SIGNING_ALGS, authorizationServerMetadata } from '@stack/oauth';
import type { StackConfig } from '@stack/stack-config';

/**
 * RFC 8414 metadata at /.well-known/oauth-authorization-server (RFC 8414 §3; §3.1 path insertion
 * for an issuer with a path). No /.well-known/openid-configuration: this server is not an OpenID
 * Provider (no ID tokens, no `openid` scope), and an OpenID Connect Discovery 1.0 §3 document
 * REQUIRES ID-token members it could only advertise falsely. MCP 2026-07-28 authorization server
 * discovery asks for at least one of the two mechanisms, and MCP clients try RFC 8414 first and
 * fall back to OpenID discovery, so RFC 8414 alone serves every client.
 */
export const metadataRoutes: FastifyPluginAsync = async (app) => {
  const { config, stack } = app.ctx;
  // Built again when the stack file is reloaded (scopes_supported, roles_supported).
  let built: { from: StackConfig; body: Record<string, unknown> } | undefined;
  const metadata = () => {
    const from = stack.current();
    if (built?.from !== from) {
      built = {
        from,
        body: authorizationServerMetadata({
          issuer: config.issuer,
          registrationEnabled: config.registration.mode !== 'closed',
          cimdEnabled: config.cimd.enabled,
          scopes: stack.scopes(),
          roles: from.roles,
          dpopSigningAlgs: DPOP_SIGNING_ALGS,
          jwtBearerGrant: from.enterpriseIdps.length > 0 || from.workloadIssuers.length > 0,
        }),
      };
    }
    return built.body;
  };
  const issuerPath = new URL(config.issuer).pathname.replace(/\/$/, '');
  const paths = new Set(['/.well-known/oauth-authorization-server']);
  if (issuerPath) paths.add(`/.well-known/oauth-authorization-server${issuerPath}`);
  for (const url of paths) {
    app.get(url, { config: { cors: true } }, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return metadata();
    });
  }
};
