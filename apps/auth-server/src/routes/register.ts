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
 * documents). REGISTRATION_MODE=closed: not registered at all, so /register is a 404 and the
 * metadata omits registration_endpoint (RFC 8414 §2: the server offers no dynamic registration).
 * approval: the client is registered and answered as in open mode (RFC 7591 §3.2.1), but stored as
 * pending: it can start no sign-in and get no token until an admin approves it (`clients approve`).
 */
export const registerRoutes: FastifyPluginAsync = async (app) => {
  const { ctx } = app;
  const { mode } = ctx.config.registration;
  if (mode === 'closed') return;
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
    const pendingApproval = mode === 'approval';
    const info = await registerClient(ctx, metadata, { role: metadata.grant_types.includes('client_credentials') ? role : undefined, pendingApproval });
    ctx.audit.write({
      event: 'client.registered', client: info.client_id, client_name: metadata.client_name, address: request.ip, auth_method: metadata.token_endpoint_auth_method,
      grant_types: metadata.grant_types, status: pendingApproval ? 'pending' : 'active', decision: 'allow',
    });
    return reply.status(201).send(info);
  });
};
