import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { OAuthError, validateRegistrationMetadata } from '@stack/oauth';
import { createRegistrationLimiter, registerClient } from '../services/client-registration.ts';

// A registration is a few hundred bytes; ten redirect URIs of 2000 characters fit comfortably.
const REGISTER_BODY_LIMIT = 32 * 1024;

function requireJson(request: FastifyRequest): void {
  const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new OAuthError('invalid_request', 'content type must be application/json', 415);
}

/**
 * RFC 7591 dynamic client registration (MCP 2026-07-28: MAY, deprecated in favour of metadata
 * documents). Not registered at all when REGISTRATION_ENABLED is false, so /register is a 404
 * and the metadata omits registration_endpoint.
 */
export const registerRoutes: FastifyPluginAsync = async (app) => {
  const { ctx } = app;
  if (!ctx.config.registration.enabled) return;
  const limiter = createRegistrationLimiter(ctx.config.registration.perHour, ctx.limiters);

  app.post('/register', {
    bodyLimit: REGISTER_BODY_LIMIT,
    config: { noStore: true },
    // Rate limit and content type are checked before the body is parsed.
    onRequest: async (request) => {
      await limiter.consume(request.ip);
      requireJson(request);
    },
  }, async (request, reply) => {
    // client_credentials only when the stack file names the role such clients get (EXT-CC-DCR-GATED).
    const role = ctx.stack.current().registration.clientCredentialsRole;
    const metadata = validateRegistrationMetadata(request.body, ctx.stack.scopes(), { clientCredentials: role !== undefined });
    const info = await registerClient(ctx, metadata, metadata.grant_types.includes('client_credentials') ? role : undefined);
    ctx.audit.write({ event: 'client.registered', client: info.client_id, client_name: metadata.client_name, address: request.ip, auth_method: metadata.token_endpoint_auth_method, grant_types: metadata.grant_types, decision: 'allow' });
    return reply.status(201).send(info);
  });
};
