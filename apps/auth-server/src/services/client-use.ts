import type { ClientRepo } from '../store/index.ts';

/** How precise a client's "last used" is: at most one write per client per minute. */
export const CLIENT_USE_GRANULARITY_MS = 60_000;
// Clients remembered as written recently; past this many the memory starts over (a few extra
// writes, never unbounded memory when many metadata-document clients come and go).
const MAX_TRACKED = 10_000;

/** Records when each client was last issued a token (clients.last_used_at, shown in the admin console). */
export interface ClientUse {
  /** Called on every token issued: returns at once; writes only when this instance has not written the client for a minute. */
  record(clientId: string): void;
  /** Waits for the writes under way (before the store closes). */
  close(): Promise<void>;
}

/**
 * The token endpoint is the hot path: the write is not awaited by the response and happens at most
 * once a minute per client per instance; the store's conditional UPDATE skips it when another
 * instance recorded a time within the minute.
 */
export function createClientUse(clients: Pick<ClientRepo, 'markUsed'>, now: () => number, onError: (err: unknown) => void): ClientUse {
  const written = new Map<string, number>();
  const pending = new Set<Promise<void>>();
  return {
    record(clientId) {
      const t = now();
      const last = written.get(clientId);
      if (last !== undefined && t - last < CLIENT_USE_GRANULARITY_MS) return;
      if (written.size >= MAX_TRACKED) written.clear();
      written.set(clientId, t);
      const p = clients.markUsed(clientId, t, CLIENT_USE_GRANULARITY_MS).catch(onError).finally(() => pending.delete(p));
      pending.add(p);
    },
    async close() {
      await Promise.all(pending);
    },
  };
}
