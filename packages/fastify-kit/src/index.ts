import type { FastifyError, FastifyInstance } from 'fastify';
import { OAuthError } from '@stack/oauth';

export { describeStartupError, exitOnStartupError, type StartupHints } from './startup-error.ts';

/**
 * The thin Fastify adapter both apps share: how Fastify's own errors become OAuth errors, and a
 * graceful shutdown. Protocol code stays in @stack/oauth; only this package knows Fastify.
 */

/** Maps Fastify's errors (body limits, parsing, schema validation) to OAuthError; anything else is a hidden server_error. */
export function fastifyErrorToOAuth(err: FastifyError, opts: { unsupportedMediaType?: string } = {}): OAuthError {
  if (err instanceof OAuthError) return err;
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
 * On SIGINT/SIGTERM: stop accepting connections, let in-flight requests finish (Fastify's close,
 * then the apps' onClose hooks close their databases), exit 0; exit 1 if that takes over `graceMs`.
 */
export function closeOnSignals(app: FastifyInstance, graceMs = 10_000): void {
  let closing = false;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    // `on`, not `once`: a second signal (a process manager signalling the group, then the parent
    // forwarding it) must not fall back to the default action and kill the process mid-close.
    process.on(signal, () => {
      if (closing) return;
      closing = true;
      setTimeout(() => process.exit(1), graceMs).unref();
      // A keep-alive connection whose request finishes while draining would hold server.close()
      // open until its idle timeout (72 s in Fastify): close connections as soon as they are idle.
      setInterval(() => app.server.closeIdleConnections(), 100).unref();
      app.close().then(() => process.exit(0), () => process.exit(1));
    });
  }
}
