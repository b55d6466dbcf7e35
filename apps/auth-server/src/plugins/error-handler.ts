import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply } from 'fastify';
import { OAuthError, bearerChallenge } from '@stack/oauth';

/** Writes an OAuthError as an RFC 6749 §5.2 / RFC 6750 §3 response. */
export function sendOAuthError(reply: FastifyReply, err: OAuthError): FastifyReply {
  reply.header('cache-control', 'no-store');
  reply.header('pragma', 'no-cache');
  if (err.retryAfter !== undefined) reply.header('retry-after', String(Math.max(1, Math.ceil(err.retryAfter))));
  if (err.status === 401 || err.status === 403) {
    const scheme = err.code === 'invalid_client' ? 'Basic' : 'Bearer';
    const params = { error: err.code, error_description: err.description, ...err.challenge };
    reply.header('www-authenticate', scheme === 'Basic' ? 'Basic realm="token"' : bearerChallenge(params));
  }
  return reply.status(err.status).type('application/json').send(err.toJSON());
}

/** Maps Fastify's own errors (body limits, parsing) to OAuth errors; anything else becomes server_error. */
function toOAuthError(err: FastifyError): OAuthError {
  if (err instanceof OAuthError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new OAuthError('request_too_large', 'request body is too large', 413);
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new OAuthError('invalid_request', 'unsupported content type', 415);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new OAuthError('invalid_request', 'request body is not valid', 400);
  }
  if (err.statusCode === 400 && err.validation) return new OAuthError('invalid_request', err.message.toLowerCase(), 400);
  if (err.statusCode === 429) return new OAuthError('rate_limited', 'too many requests, retry later', 429, { retryAfter: 60 });
  return new OAuthError('server_error', 'internal error', 500, { cause: err });
}

/** The one error handler at the root: OAuth JSON bodies, no-store, WWW-Authenticate; no internals leak. */
export const errorHandler = fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const oauth = toOAuthError(err);
      if (oauth.expose) request.log.info({ code: oauth.code, status: oauth.status }, oauth.description);
      else request.log.error({ err }, 'unexpected error');
      return sendOAuthError(reply, oauth);
    });
    app.setNotFoundHandler((_request, reply) => sendOAuthError(reply, new OAuthError('not_found', 'no such endpoint', 404)));
  },
  { name: 'error-handler' },
);
