import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { bearerChallenge, dpopChallenge, type OAuthError } from '@stack/oauth';
import type { ErrorHandlerOptions } from '@stack/fastify-kit';
import { MissingCredentialsError, usesDpopScheme } from '../pipeline/authenticate.ts';
import { endpointOf } from '../endpoint.ts';

/**
 * The RFC 6750 §3 / RFC 9449 §7.1 challenge for a 401/403. Without credentials there is no error
 * code (§3.1); a server that takes access tokens points at its protected resource metadata in every
 * challenge (RFC 9728 §5.1) and names both schemes it accepts, `Bearer …, DPoP algs="…"` (only
 * DPoP when it requires it); an error about a request made with the DPoP scheme, or about its
 * proof, is a DPoP challenge. A server that takes no tokens (API keys only, mTLS) names realm="mcp".
 */
function challenge(request: FastifyRequest, err: OAuthError): string | undefined {
  // Other errors (403 access_denied for a refused origin, 429…) carry no challenge.
  const proofError = err.code === 'invalid_dpop_proof' || err.code === 'use_dpop_nonce';
  if (!(err instanceof MissingCredentialsError) && err.code !== 'invalid_token' && err.code !== 'insufficient_scope' && !proofError) return undefined;
  const { mcp } = request.server;
  // The challenge names the metadata and scopes of the server the request was for.
  const { resourceMetadataUrl, policy, authenticator } = endpointOf(request) ?? { resourceMetadataUrl: mcp.resourceMetadataUrl, policy: () => mcp.policy.current(), authenticator: mcp.authenticator };
  const oauth = authenticator.oauth;
  const rm = oauth ? resourceMetadataUrl : undefined;
  const dpop = oauth ? authenticator.dpop : undefined;
  /** The DPoP challenge, alone for a DPoP request or a server requiring DPoP, else after the Bearer one. */
  const schemes = (params: Record<string, string | undefined>, alone: boolean): string => {
    if (!dpop) return bearerChallenge(params);
    const d = dpopChallenge({ algs: dpop.algs, ...params });
    if (alone || dpop.required) return d;
    // The Bearer challenge carries the error; the DPoP one says that scheme is accepted too.
    return `${bearerChallenge(params)}, ${dpopChallenge({ algs: dpop.algs, resource_metadata: rm })}`;
  };
  const dpopRequest = usesDpopScheme(request.headers.authorization);
  if (err instanceof MissingCredentialsError) {
    if (!oauth) return bearerChallenge({ realm: 'mcp' });
    const params = { resource_metadata: rm, scope: policy().scopesSupported.join(' ') };
    return dpop && !dpop.required ? `${bearerChallenge(params)}, ${dpopChallenge({ algs: dpop.algs, ...params })}` : schemes(params, true);
  }
  if (proofError) return schemes({ error: err.code, error_description: err.description, resource_metadata: rm }, true);
  if (err.code === 'invalid_token') {
    return schemes({ ...(oauth ? {} : { realm: 'mcp' }), error: err.code, error_description: err.description, resource_metadata: rm }, dpopRequest);
  }
  if (err.code === 'insufficient_scope') {
    const params = { error: err.code, scope: err.challenge?.scope, resource_metadata: rm, error_description: err.description };
    // A step-up is asked in the scheme the token was sent with.
    return dpopRequest && dpop ? dpopChallenge({ algs: dpop.algs, ...params }) : bearerChallenge(params);
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
