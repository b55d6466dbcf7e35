import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { bearerChallenge, type OAuthError } from '@stack/oauth';
import type { ErrorHandlerOptions } from '@stack/fastify-kit';
import { MissingCredentialsError } from '../pipeline/authenticate.ts';
import { endpointOf } from '../endpoint.ts';

/**
 * The RFC 6750 §3 challenge for a 401/403. Without credentials there is no error code (§3.1);
 * a server that takes access tokens points at its protected resource metadata in every
 * challenge (RFC 9728 §5.1); one that takes none (API keys only, mTLS) names realm="mcp".
 */
function challenge(request: FastifyRequest, err: OAuthError): string | undefined {
  // Other errors (403 access_denied for a refused origin, 429…) carry no challenge.
  if (!(err instanceof MissingCredentialsError) && err.code !== 'invalid_token' && err.code !== 'insufficient_scope') return undefined;
  const { mcp } = request.server;
  // The challenge names the metadata and scopes of the server the request was for.
  const { resourceMetadataUrl, policy, authenticator } = endpointOf(request) ?? { resourceMetadataUrl: mcp.resourceMetadataUrl, policy: () => mcp.policy.current(), authenticator: mcp.authenticator };
  const oauth = authenticator.oauth;
  const rm = oauth ? resourceMetadataUrl : undefined;
  if (err instanceof MissingCredentialsError) {
    return oauth
      ? bearerChallenge({ resource_metadata: rm, scope: policy().scopesSupported.join(' ') })
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

const isMcpRoute = (request: FastifyRequest) => endpointOf(request) !== undefined;

/** A body that is not JSON is a JSON-RPC parse error on the MCP endpoint (JSON-RPC 2.0 §5.1). */
function parseError(err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined {
  if (!isMcpRoute(request)) return undefined;
  if (err.code !== 'FST_ERR_CTP_INVALID_JSON_BODY' && err.code !== 'FST_ERR_CTP_EMPTY_JSON_BODY' && !(err instanceof SyntaxError)) return undefined;
  reply.header('cache-control', 'no-store');
  return reply.status(400).type('application/json').send({ jsonrpc: '2.0', id: null, error: { code: -32700, message: 'Parse error: the body is not valid JSON' } });
}

/** What the MCP server's errors add to @stack/fastify-kit's error handler: its challenges and the JSON-RPC parse error. */
export const mcpErrorResponses: ErrorHandlerOptions = {
  challenge,
  answer: parseError,
  unsupportedMediaType: 'content type must be application/json',
};
