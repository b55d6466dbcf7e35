import { lt } from 'drizzle-orm';
import { authSchema } from '@stack/db';
import type { AppContext } from '../context.ts';
import { purgeAuthorizationCodes } from './codes.ts';
import { purgeRefreshTokens } from './refresh-tokens.ts';

// Consumed codes are kept this long after they expire, so a late second use is still detected as reuse.
const CODE_RETENTION_MS = 10 * 60_000;
// Revoked access tokens stay listed a little past their expiry to cover clock skew at the MCP server.
const SKEW_MS = 60_000;

/** Deletes what can no longer matter: sealed successors past the grace window, expired tokens and codes. */
export function sweepTokens(ctx: AppContext): void {
  const now = ctx.now();
  const { issuedAccessTokens, revokedAccessTokens } = authSchema;
  ctx.db.transaction((tx) => {
    purgeRefreshTokens(tx, now - ctx.config.refreshGrace * 1000, now);
    purgeAuthorizationCodes(tx, now - CODE_RETENTION_MS);
    tx.delete(issuedAccessTokens).where(lt(issuedAccessTokens.expiresAt, now)).run();
    tx.delete(revokedAccessTokens).where(lt(revokedAccessTokens.expiresAt, now - SKEW_MS)).run();
  });
}

/** Runs sweepTokens every `everyMs` until the returned stop function is called. */
export function startTokenSweeper(ctx: AppContext, everyMs: number, onError: (err: unknown) => void): () => void {
  const timer = setInterval(() => {
    try {
      sweepTokens(ctx);
    } catch (err) {
      onError(err);
    }
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
