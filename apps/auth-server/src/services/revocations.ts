import { and, asc, eq, gt, gte, inArray, isNull } from 'drizzle-orm';
import { authSchema } from '@stack/db';
import type { AuthWriter } from './db-writer.ts';

const { refreshTokens, issuedAccessTokens, revokedAccessTokens } = authSchema;

/** Records an issued access token so that revoking its family (or its code) revokes it too. */
export function recordIssuedAccessToken(
  tx: AuthWriter,
  t: { jti: string; familyId: string; clientId: string; userId: string; expiresAt: number },
): void {
  tx.insert(issuedAccessTokens).values(t).run();
}

/** Adds an access token to the revocation list the MCP server polls (idempotent). */
export function revokeAccessToken(tx: AuthWriter, jti: string, expiresAt: number, now: number): void {
  tx.insert(revokedAccessTokens).values({ jti, expiresAt, revokedAt: now }).onConflictDoNothing().run();
}

/**
 * Revokes whole token families: every refresh token in them (rotated ones included, so a successor
 * handed out earlier dies too) and every access token issued from them that has not yet expired.
 * Returns the number of refresh tokens newly revoked.
 */
export function revokeFamilies(tx: AuthWriter, familyIds: readonly string[], now: number): number {
  if (familyIds.length === 0) return 0;
  const ids = [...new Set(familyIds)];
  const r = tx.update(refreshTokens)
    .set({ revokedAt: now, successorSealed: null })
    .where(and(inArray(refreshTokens.familyId, ids), isNull(refreshTokens.revokedAt)))
    .run();
  const live = tx.select({ jti: issuedAccessTokens.jti, expiresAt: issuedAccessTokens.expiresAt })
    .from(issuedAccessTokens)
    .where(and(inArray(issuedAccessTokens.familyId, ids), gt(issuedAccessTokens.expiresAt, now)))
    .all();
  for (const t of live) revokeAccessToken(tx, t.jti, t.expiresAt, now);
  return r.changes;
}

/** True when the access token with this jti was revoked. */
export function isAccessTokenRevoked(tx: AuthWriter, jti: string): boolean {
  return tx.select({ jti: revokedAccessTokens.jti }).from(revokedAccessTokens).where(eq(revokedAccessTokens.jti, jti)).get() !== undefined;
}

export interface RevocationEntry {
  jti: string;
  expiresAt: number;
  revokedAt: number;
}

/**
 * Unexpired revoked access tokens with revokedAt >= since, oldest first, at most `limit`.
 * `since` is inclusive so a poller that passes back the newest revokedAt it saw never misses a row
 * written in the same millisecond (it may see that row twice; the list is a set).
 */
export function listRevocations(tx: AuthWriter, since: number, now: number, limit: number): RevocationEntry[] {
  return tx.select({ jti: revokedAccessTokens.jti, expiresAt: revokedAccessTokens.expiresAt, revokedAt: revokedAccessTokens.revokedAt })
    .from(revokedAccessTokens)
    .where(and(gte(revokedAccessTokens.revokedAt, since), gt(revokedAccessTokens.expiresAt, now)))
    .orderBy(asc(revokedAccessTokens.revokedAt))
    .limit(limit)
    .all();
}
