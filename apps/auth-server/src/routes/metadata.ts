import type { FastifyPluginAsync } from 'fastify';
import { authorizationServerMetadata } from '@stack/oauth';

/** RFC 8414 metadata at both well-known names MCP clients try (plus path-suffixed forms for an issuer with a path). */
export const metadataRoutes: FastifyPluginAsync = async (app) => {
  const { config } = app.ctx;
  const body = authorizationServerMetadata({
    issuer: config.issuer,
    registrationEnabled: config.registration.enabled,
    cimdEnabled: config.cimd.enabled,
  });
  const issuerPath = new URL(config.issuer).pathname.replace(/\/$/, '');
  const paths = new Set(['/.well-known/oauth-authorization-server', '/.well-known/openid-configuration']);
  if (issuerPath) {
    // RFC 8414 §3.1 path insertion, and the OIDC path-append form.
    paths.add(`/.well-known/oauth-authorization-server${issuerPath}`);
    paths.add(`/.well-known/openid-configuration${issuerPath}`);
    paths.add(`${issuerPath}/.well-known/openid-configuration`);
  }
  for (const url of paths) {
    app.get(url, async (_req, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      reply.header('access-control-allow-origin', '*');
      return body;
    });
  }
};
