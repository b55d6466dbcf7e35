import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, bearerChallenge } from '@stack/oauth';
import { fastifyErrorToOAuth } from '@stack/fastify-kit';
import { MissingCredentialsError } from '../pipeline/authenticate.ts';

/**
 * The RFC 6750 §3 challenge for a 401/403. Without credentials there is no error code (§3.1);
 * in OAuth mode every challenge points at the protected resource metadata (RFC 9728 §5.1).
 */
function challenge(request: FastifyRequest, err: OAuthError): string | undefined {
  const { config, resourceMetadataUrl, policy } = request.server.mcp;
  const oauth = config.authMode === 'oauth';
  const rm = oauth ? resourceMetadataUrl : undefined;
  if (err instanceof MissingCredentialsError) {
    return oauth
      ? bearerChallenge({ resource_metadata: rm, scope: policy.current().scopesSupported.join(' ') })
      : bearerChallenge({ realm: 'mcp' });
  }
  if (err.code === 'invalid_token') {
    return bearerChallenge({ ...(oauth ? {} : { realm: 'mcp' }), error: err.code, error_description: err.description, resource_metadata: rm });
  }
  if (err.code === 'insufficient_scope') {
    return bearerChallenge({ error: err.code, scope: err.challenge?.scope, resource_metadata: rm, error_description: err.description });
  }
  return undefined;
}

/** Writes an OAuthError as an RFC 6749 §5.2-style JSON body with no-store and, for auth failures, a challenge. */
export function sendError(request: FastifyRequest, reply: FastifyReply, err: OAuthError): FastifyReply {
  reply.header('cache-control', 'no-store');
  if (err.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  const www = challenge(request, err);
  if (www) reply.header('www-authenticate', www);
  return reply.status(err.status).type('application/json').send(err.toJSON());
}

const isMcpRoute = (request: FastifyRequest) => request.routeOptions.url === request.server.mcp.config.mcpPath;

/** A JSON-RPC error body for problems with the message itself (JSON-RPC 2.0 §5.1). */
function sendRpcError(reply: FastifyReply, status: number, code: number, message: string): FastifyReply {
  reply.header('cache-control', 'no-store');
  return reply.status(status).type('application/json').send({ jsonrpc: '2.0', id: null, error: { code, message } });
}

/** The one error handler at the root: JSON bodies, no-store, challenges; never a stack trace, never a 5xx for bad input. */
export const errorHandler = fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      // A body that is not JSON is a JSON-RPC parse error on the MCP endpoint.
      if (isMcpRoute(request) && (err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || err instanceof SyntaxError)) {
        return sendRpcError(reply, 400, -32700, 'Parse error: the body is not valid JSON');
      }
      const oauth = fastifyErrorToOAuth(err, { unsupportedMediaType: 'content type must be application/json' });
      if (oauth.expose) request.log.info({ code: oauth.code, status: oauth.status }, oauth.description);
      else request.log.error({ err }, 'unexpected error');
      return sendError(request, reply, oauth);
    });
    app.setNotFoundHandler((request, reply) => sendError(request, reply, new OAuthError('not_found', 'no such endpoint', 404)));
  },
  { name: 'error-handler' },
);
