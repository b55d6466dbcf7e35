import fp from 'fastify-plugin';
import type { FastifyError, FastifyReply } from 'fastify';
import { OAuthError, bearerChallenge } from '@stack/oauth';
import { fastifyErrorToOAuth } from '@stack/fastify-kit';

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

/** The one error handler at the root: OAuth JSON bodies, no-store, WWW-Authenticate; no internals leak. */
export const errorHandler = fp(
  async (app) => {
    app.setErrorHandler((err: FastifyError, request, reply) => {
      const oauth = fastifyErrorToOAuth(err);
      if (oauth.expose) request.log.info({ code: oauth.code, status: oauth.status }, oauth.description);
      else request.log.error({ err }, 'unexpected error');
      return sendOAuthError(reply, oauth);
    });
    app.setNotFoundHandler((_request, reply) => sendOAuthError(reply, new OAuthError('not_found', 'no such endpoint', 404)));
  },
  { name: 'error-handler' },
);
