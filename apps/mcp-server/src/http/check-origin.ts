import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '@stack/oauth';

/**
 * DNS-rebinding protection (MCP transports, security warning): a request that carries an Origin
 * must come from an allowed one. Requests without Origin (non-browser clients) pass.
 */
export async function checkOrigin(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
  const origin = request.headers.origin;
  if (origin === undefined) return;
  if (request.server.mcp.config.allowedOrigins.includes(origin)) return;
  request.server.mcp.audit.record({
    decision: 'DENIED', requestId: request.id, address: request.ip, transport: 'http', reason: `origin not allowed: ${origin.slice(0, 200)}`,
  });
  throw new OAuthError('access_denied', 'origin is not allowed', 403);
}
