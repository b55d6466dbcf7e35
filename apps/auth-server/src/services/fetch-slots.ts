import { temporarilyUnavailable, type OAuthError } from '@stack/oauth';

export interface FetchSlotLimits {
  /** Outbound fetches in flight at once, all hosts together. */
  total: number;
  /** Outbound fetches in flight at once to one host. */
  perHost: number;
  /** Callers waiting for a slot, all hosts together; past it they are refused at once. */
  maxWaiting: number;
  /** Callers waiting for a slot on one host: one slow host cannot fill the whole queue. */
  maxWaitingPerHost: number;
  /** How long a caller waits for a slot before it is refused. */
  maxWaitMs: number;
  /** Retry-After (seconds) sent with a refusal. */
  retryAfterSeconds: number;
}

interface Waiter {
  grant: (release: () => void) => void;
  fail: (err: OAuthError) => void;
  timer: NodeJS.Timeout;
}

/**
 * Concurrency slots for outbound fetches, with a cap per host under the global one, so slow
 * documents on one host hold at most `perHost` slots and the rest stay free for everyone else.
 * A caller over either cap waits in a short, bounded queue rather than being refused at once; a
 * freed slot goes to the hosts' queues in turn (round robin), so a host with many waiters cannot
 * starve the one legitimate sign-in queued behind it.
 */
export class FetchSlots {
  readonly #limits: FetchSlotLimits;
  #active = 0;
  readonly #activePerHost = new Map<string, number>();
  /** Waiters by host; Map order is the round-robin order (a served host moves to the back). */
  readonly #waiting = new Map<string, Waiter[]>();
  #waitingCount = 0;
  #closed = false;

  constructor(limits: FetchSlotLimits) {
    this.#limits = limits;
  }

  #busy(message: string): OAuthError {
    return temporarilyUnavailable(message, this.#limits.retryAfterSeconds);
  }

  #free(host: string): boolean {
    return this.#active < this.#limits.total && (this.#activePerHost.get(host) ?? 0) < this.#limits.perHost;
  }

  #take(host: string): () => void {
    this.#active++;
    this.#activePerHost.set(host, (this.#activePerHost.get(host) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#active--;
      const n = (this.#activePerHost.get(host) ?? 1) - 1;
      if (n === 0) this.#activePerHost.delete(host);
      else this.#activePerHost.set(host, n);
      this.#dispatch();
    };
  }

  #dispatch(): void {
    while (this.#active < this.#limits.total) {
      const host = [...this.#waiting.keys()].find((h) => this.#free(h));
      if (host === undefined) return;
      const queue = this.#waiting.get(host)!;
      const waiter = queue.shift()!;
      this.#waiting.delete(host);
      if (queue.length > 0) this.#waiting.set(host, queue);
      this.#waitingCount--;
      clearTimeout(waiter.timer);
      waiter.grant(this.#take(host));
    }
  }

  /**
   * A slot for one fetch from `host`: resolves with its release function (call it exactly when the
   * fetch is over; extra calls do nothing). Rejects with 503 temporarily_unavailable when the queue
   * is full or no slot came free within maxWaitMs.
   */
  acquire(host: string): Promise<() => void> {
    if (this.#closed) return Promise.reject(this.#busy('the server is shutting down'));
    if (this.#free(host) && !this.#waiting.has(host)) return Promise.resolve(this.#take(host));
    const queue = this.#waiting.get(host) ?? [];
    if (this.#waitingCount >= this.#limits.maxWaiting || queue.length >= this.#limits.maxWaitingPerHost) {
      return Promise.reject(this.#busy('too many client metadata documents are being fetched, retry later'));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: resolve,
        fail: reject,
        timer: setTimeout(() => {
          const q = this.#waiting.get(host);
          const i = q?.indexOf(waiter) ?? -1;
          if (i < 0) return;
          q!.splice(i, 1);
          if (q!.length === 0) this.#waiting.delete(host);
          this.#waitingCount--;
          reject(this.#busy('too many client metadata documents are being fetched, retry later'));
        }, this.#limits.maxWaitMs),
      };
      queue.push(waiter);
      this.#waiting.set(host, queue);
      this.#waitingCount++;
    });
  }

  /** Fetches in flight and callers waiting, in all and for one host (for tests and diagnostics). */
  state(host?: string): { active: number; waiting: number } {
    if (host === undefined) return { active: this.#active, waiting: this.#waitingCount };
    return { active: this.#activePerHost.get(host) ?? 0, waiting: this.#waiting.get(host)?.length ?? 0 };
  }

  /** Refuses every waiter and any later caller (app shutdown); fetches in flight end by their own deadline. */
  close(): void {
    this.#closed = true;
    for (const queue of this.#waiting.values()) {
      for (const w of queue) {
        clearTimeout(w.timer);
        w.fail(this.#busy('the server is shutting down'));
      }
    }
    this.#waiting.clear();
    this.#waitingCount = 0;
  }
}
