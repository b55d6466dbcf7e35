import { availableParallelism } from 'node:os';
import { temporarilyUnavailable } from '@stack/oauth';
import { inSpan, type Tracer } from '@stack/telemetry';

// argon2 runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise). Without a
// bound, a burst of logins occupies every pool thread and every core: DNS lookups (CIMD fetches) and
// async file work queue behind it, and other requests wait for a core. At most this many
// argon2 operations run at once (one core is left for everything else); the rest wait here, which
// is where they would otherwise wait anyway, in the thread pool's queue.
const MAX_CONCURRENT = Math.max(1, Math.min(3, availableParallelism() - 1));

// The queue is bounded too: past this many waiters an unauthenticated flood would only grow memory and
// make every login wait behind it, so further work is refused at once (503 + Retry-After) instead.
// A hundred waiters is a few seconds of argon2 work at most (one slot, ~25 ms a run at the default cost).
const MAX_WAITING = 100;
const RETRY_AFTER_SECONDS = 2;

/**
 * Bounded slots for argon2 work. One instance per app (ctx.argon2) or CLI command: the bound protects
 * the process's thread pool, and a server process runs one app (main.ts). Holds no timer or handle,
 * so nothing needs closing.
 */
export interface Argon2Slots {
  /**
   * Runs one argon2 operation when a slot is free (FIFO). Rejects at once with a 503
   * temporarily_unavailable OAuthError (Retry-After) when the queue is full; `work` is not run then.
   */
  run<T>(work: () => Promise<T>): Promise<T>;
  /** Slots in use and waiters (for tests). */
  state(): { max: number; maxWaiting: number; running: number; waiting: number };
}

/** With `tracer`, each operation runs in an `auth.argon2` span once it has its slot (the wait is the caller's span's). */
export function createArgon2Slots(tracer?: Tracer): Argon2Slots {
  let running = 0;
  const waiting: (() => void)[] = [];
  return {
    async run<T>(work: () => Promise<T>): Promise<T> {
      if (running >= MAX_CONCURRENT) {
        if (waiting.length >= MAX_WAITING) throw temporarilyUnavailable('the server is busy, retry later', RETRY_AFTER_SECONDS);
        await new Promise<void>((resolve) => waiting.push(resolve));
      } else running++;
      try {
        return await (tracer ? inSpan(tracer, 'auth.argon2', undefined, work) : work());
      } finally {
        // The slot passes straight to the next waiter, so `running` only drops when nobody waits.
        const next = waiting.shift();
        if (next) next();
        else running--;
      }
    },
    state: () => ({ max: MAX_CONCURRENT, maxWaiting: MAX_WAITING, running, waiting: waiting.length }),
  };
}
