/**
 * A shared store did not answer (down, timed out), so a request that needs it can be neither counted
 * nor checked: it is refused, never let through uncounted. Framework-free on purpose: the HTTP layer
 * (@stack/fastify-kit) answers it with 503 temporarily_unavailable and Retry-After (RFC 6749 §4.1.2.1,
 * RFC 9110 §10.2.3). Redis and the PostgreSQL database both throw it, so one type means "a shared
 * store is down". The message is a fixed text per store, never the cause (which may name the store's
 * URL): the cause is logged by the connection, never carried to a client.
 */
export class StoreUnavailableError extends Error {
  /** Seconds a client is asked to wait before retrying. */
  readonly retryAfter: number;

  constructor(retryAfter: number, message = 'a shared store is unavailable, retry later') {
    super(message);
    this.name = 'StoreUnavailableError';
    this.retryAfter = retryAfter;
  }
}
