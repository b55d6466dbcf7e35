import type { TLSSocket } from 'node:tls';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError } from '@stack/oauth';
import { StoreUnavailableError } from '@stack/redis';
import type { Credentials } from '../pipeline/authenticate.ts';
import { endpointOf } from '../endpoint.ts';
import { inSpan } from '@stack/telemetry';

function credentials(request: FastifyRequest): Credentials {
  const apiKey = request.headers['x-api-key'];
  const socket = request.raw.socket as Partial<TLSSocket>;
  const tls = socket.encrypted === true && typeof socket.getPeerCertificate === 'function';
  return {
    authorization: request.headers.authorization,
    apiKey: typeof apiKey === 'string' ? apiKey : undefined,
    certificate: tls ? socket.getPeerCertificate!() : undefined,
    certificateAuthorized: tls ? socket.authorized === true : undefined,
    dpopProof: request.headers.dpop,
    method: request.method,
  };
}

/**
 * How the caller presented itself, for the `mcp.authenticate` span: the scheme or header only,
 * never a credential.
 */
function presentedMethod(request: FastifyRequest): string {
  const authorization = request.headers.authorization;
  if (authorization !== undefined) return /^dpop /i.test(authorization) ? 'dpop' : /^bearer /i.test(authorization) ? 'bearer' : 'other';
  if (request.headers['x-api-key'] !== undefined) return 'api_key';
  return (request.raw.socket as Partial<TLSSocket>).encrypted === true ? 'certificate' : 'none';
}

/** Pipeline step 1: who is calling. Sets request.identity or answers 401 (audited as AUTH_FAILED). */
export function authenticateRequest(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { tracer } = request.server.mcp;
  if (!tracer) return authenticate(request, reply);
  return inSpan(tracer, 'mcp.authenticate', { 'mcp.auth.presented': presentedMethod(request) }, async (span) => {
    await authenticate(request, reply);
    // What the credential turned out to be: a user's access token (DPoP-bound or not), an API key, a certificate.
    const identity = request.identity!;
    span?.setAttribute('mcp.auth.kind', identity.binding ? `${identity.kind}+dpop` : identity.kind);
  });
}

async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const { audit } = request.server.mcp;
  // Each protected server accepts only tokens issued for it (RFC 8707 audience).
  const { authenticator } = endpointOf(request) ?? request.server.mcp;
  try {
    request.identity = await authenticator.authenticate(credentials(request));
    // RFC 9449 §8.2, §9: a DPoP client takes the nonce from any answer, so it moves to the next
    // window's nonce without a refused request.
    const nonce = request.identity.binding ? authenticator.dpop?.nonce?.() : undefined;
    if (nonce !== undefined) reply.header('dpop-nonce', nonce);
  } catch (err) {
    const reason = err instanceof OAuthError ? err.description : err instanceof StoreUnavailableError ? err.message : 'authentication failed';
    // A shared store that did not answer (the revocation list in Redis) is our failure, not the caller's.
    audit.record({ decision: err instanceof StoreUnavailableError ? 'ERROR' : 'AUTH_FAILED', requestId: request.id, address: request.ip, transport: 'http', reason });
    if (err instanceof OAuthError || err instanceof StoreUnavailableError) throw err;
    request.log.error({ err }, 'authentication error');
    throw new OAuthError('server_error', 'internal error', 500);
  }
}
