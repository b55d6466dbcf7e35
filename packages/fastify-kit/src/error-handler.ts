import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { OAuthError, bearerChallenge, temporarilyUnavailable } from '@stack/oauth';
import { StoreUnavailableError } from '@stack/redis';

/** Maps Fastify's errors (body limits, parsing, schema validation) to OAuthError; anything else is a hidden server_error. */
export function fastifyErrorToOAuth(err: FastifyError, opts: { unsupportedMediaType?: string } = {}): OAuthError {
  if (err instanceof OAuthError) return err;
  // A shared store that did not answer refuses the request (fail closed): a deliberate 503, not a crash.
  if (err instanceof StoreUnavailableError) return temporarilyUnavailable(err.message, err.retryAfter);
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OAuthError('request_too_large', 'request body is too large', 413);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OAuthError('invalid_request', opts.unsupportedMediaType ?? 'unsupported content type', 415);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new OAuthError('invalid_request', 'request body is not valid', 400);
  }
  if (err.statusCode === 400) {
    return new OAuthError('invalid_request', err.validation ? err.message.toLowerCase() : 'request is not valid', 400);
  }
  if (err.statusCode === 429) return new OAuthError('rate_limited', 'too many requests, retry later', 429, { retryAfter: 60 });
  return new OAuthError('server_error', 'internal error', 500, { cause: err });
}

/**
 * The challenge of an authorization server: for a 401/403, `Basic` when client authentication
 * failed (RFC 6749 §5.2), otherwise `Bearer` with the error (RFC 6750 §3).
 */
function oauthChallenge(_request: FastifyRequest, err: OAuthError): string | undefined {
  if (err.status !== 401 && err.status !== 403) return undefined;
  if (err.code === 'invalid_client') return 'Basic realm="token"';
  return bearerChallenge({ error: err.code, error_description: err.description, ...err.challenge });
}

export interface ErrorHandlerOptions {
  /** The WWW-Authenticate value for an error, or undefined for none. Default: an authorization server's (above). */
  challenge?: (request: FastifyRequest, err: OAuthError) => string | undefined;
  /** Also send `Pragma: no-cache`, for HTTP/1.0 caches (RFC 6749 §5.1). */
  pragmaNoCache?: boolean;
  /** The description of a 415 (unsupported content type). */
  unsupportedMediaType?: string;
  /**
   * Answers an error in the app's own shape before it is mapped to an OAuth body (a JSON-RPC parse
   * error on an MCP endpoint); returns undefined to leave it to the OAuth body.
   */
  answer?: (err: FastifyError, request: FastifyRequest, reply: FastifyReply) => FastifyReply | undefined;
}

/**
 * The one error handler at the root: RFC 6749 §5.2-style JSON bodies, no-store, Retry-After and
 * challenges (RFC 6750 §3); Fastify's and the stores' errors mapped to OAuthError; no internals leak.
 */
export const errorHandler = fp<ErrorHandlerOptions>(
  async (app, opts) => {
    const challenge = opts.challenge ?? oauthChallenge;
    const send = (request: FastifyRequest, reply: FastifyReply, err: OAuthError): FastifyReply => {
      reply.header('cache-control', 'no-store');
      if (opts.pragmaNoCache) reply.header('pragma', 'no-cache');
      if (err.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
      // RFC 9449 §8 (token endpoint), §9 (resource): use_dpop_nonce carries the nonce to retry with.
      if (err.dpopNonce !== undefined) reply.header('dpop-nonce', err.dpopNonce);
      const www = challenge(request, err);
      if (www) reply.header('www-authenticate', www);
      return reply.status(err.status).type('application/json').send(err.toJSON());
    };
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const answered = opts.answer?.(err, request, reply);
      if (answered) return answered;
      const oauth = fastifyErrorToOAuth(err, opts);
      if (oauth.expose) request.log.info({ code: oauth.code, status: oauth.status }, oauth.description);
      else request.log.error({ err }, 'unexpected error');
      return send(request, reply, oauth);
    });
    app.setNotFoundHandler((request, reply) => send(request, reply, new OAuthError('not_found', 'no such endpoint', 404)));
  },
  { name: 'error-handler' },
);
