import { StoreUnavailableError } from '@stack/redis';

/** Seconds a client is asked to wait (Retry-After) while the database is unreachable. */
export const RETRY_AFTER_SECONDS = 5;

// Connection-level failures: the server cannot be reached, dropped the connection or refuses new
// ones (SQLSTATE class 08, admin/crash shutdown 57P01-57P03, too many connections 53300).
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
const MESSAGES = /connection terminated|timeout exceeded when trying to connect|connection timeout|client has encountered a connection error|cannot use a pool after calling end/i;

/** True when `err` (or what it wraps: drizzle wraps driver errors) means the database is unreachable. */
export function isUnavailable(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || SQLSTATES.has(code) || code.startsWith('08'))) return true;
    if (MESSAGES.test(e.message)) return true;
  }
  return false;
}

export interface AvailabilityLog {
  /** The database became unreachable (called at most once per interval while it stays so). */
  unavailable(err: unknown): void;
  /** A query succeeded again after a failure. */
  recovered(): void;
}

/**
 * Fails closed: a store call that cannot reach the database throws StoreUnavailableError, answered
 * with 503 temporarily_unavailable and Retry-After like a Redis outage (never a silent allow), logged
 * once per `intervalMs`; the pool reconnects by itself on
 * later calls, and the first success is logged as recovery.
 */
export function availabilityGuard(log: AvailabilityLog, intervalMs: number, clock: () => number = Date.now) {
  let down = false;
  let lastLogged = -Infinity;
  return async function run<T>(fn: () => Promise<T>): Promise<T> {
    try {
      const result = await fn();
      if (down) {
        down = false;
        log.recovered();
      }
      return result;
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      down = true;
      const t = clock();
      if (t - lastLogged >= intervalMs) {
        lastLogged = t;
        log.unavailable(err);
      }
      throw new StoreUnavailableError(RETRY_AFTER_SECONDS, 'the database is unavailable, retry later');
    }
  };
}

/** Wraps every method of a repository with `run`. */
export function guarded<T extends object>(repo: T, run: <R>(fn: () => Promise<R>) => Promise<R>): T {
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(repo)) {
    out[name] = typeof value === 'function' ? (...args: unknown[]) => run(() => (value as (...a: unknown[]) => Promise<unknown>)(...args)) : value;
  }
  return out as T;
}
