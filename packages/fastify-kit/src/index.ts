import type { FastifyInstance } from 'fastify';

export { describeStartupError, exitOnStartupError, type StartupHints } from './startup-error.ts';
export { errorHandler, fastifyErrorToOAuth, type ErrorHandlerOptions } from './error-handler.ts';
export { securityHeaders, type SecurityHeadersOptions } from './security-headers.ts';
export { httpMetrics } from './http-metrics.ts';
export { logSerializers, redactedUrl } from './log-serializers.ts';

/**
 * The thin Fastify adapter both apps share: the error handler (how OAuth, Fastify's and the stores'
 * errors become responses), security headers and a graceful shutdown. Protocol code stays in
 * @stack/oauth; only this package knows Fastify.
 */

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
