import type { AppContext } from '../context.ts';

// Consumed codes are kept this long after they expire, so a late second use is still detected as reuse.
const CODE_RETENTION_MS = 10 * 60_000;
// Revoked access tokens stay listed a little past their expiry to cover clock skew at the MCP server.
const SKEW_MS = 60_000;

/** Deletes what can no longer matter: sealed successors past the grace window, expired tokens and codes. */
export function sweepTokens(ctx: AppContext): Promise<void> {
  const now = ctx.now();
  return ctx.store.sweep({
    now,
    sealedBefore: now - ctx.config.refreshGrace * 1000,
    codesBefore: now - CODE_RETENTION_MS,
    revokedBefore: now - SKEW_MS,
  });
}

/**
 * Runs sweepTokens every `everyMs` until the returned stop function is called; stop resolves once a
 * sweep under way has ended, so the store can be closed after it.
 */
export function startTokenSweeper(ctx: AppContext, everyMs: number, onError: (err: unknown) => void): () => Promise<void> {
  let running: Promise<void> | undefined;
  const timer = setInterval(() => {
    // With a slow database, sweeps must not pile up.
    if (running) return;
    running = sweepTokens(ctx).catch(onError).finally(() => {
      running = undefined;
    });
  }, everyMs);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await running;
  };
}
