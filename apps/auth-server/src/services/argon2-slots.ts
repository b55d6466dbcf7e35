import { availableParallelism } from 'node:os';
import { temporarilyUnavailable } from '@stack/oauth';

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

// Process state on purpose, not per app: the thread pool these slots protect is the process's, so
// every app and CLI command in one process must share one bound. Nothing here needs closing.
let running = 0;
const waiting: (() => void)[] = [];

/**
 * Runs one argon2 operation when a slot is free (FIFO). Rejects at once with a 503
 * temporarily_unavailable OAuthError (Retry-After) when the queue is full; `work` is not run then.
 */
export async function withArgon2Slot<T>(work: () => Promise<T>): Promise<T> {
  if (running >= MAX_CONCURRENT) {
    if (waiting.length >= MAX_WAITING) throw temporarilyUnavailable('the server is busy, retry later', RETRY_AFTER_SECONDS);
    await new Promise<void>((resolve) => waiting.push(resolve));
  } else running++;
  try {
    return await work();
  } finally {
    // The slot passes straight to the next waiter, so `running` only drops when nobody waits.
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** Slots in use and waiters (for tests). */
export function argon2SlotState(): { max: number; maxWaiting: number; running: number; waiting: number } {
  return { max: MAX_CONCURRENT, maxWaiting: MAX_WAITING, running, waiting: waiting.length };
}
