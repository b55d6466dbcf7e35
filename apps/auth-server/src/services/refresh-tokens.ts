import { randomUUID } from 'node:crypto';
import { and, eq, isNotNull, isNull, lt } from 'drizzle-orm';
import { authSchema } from '@stack/db';
import { randomToken, tokenHash } from '@stack/crypto';
import type { AuthWriter } from './db-writer.ts';
import { revokeFamilies } from './revocations.ts';

const { refreshTokens } = authSchema;
export type RefreshTokenRecord = typeof refreshTokens.$inferSelect;

/**
 * The family id of everything issued from one authorization code, derived from the code's hash so
 * that a reused code finds its access tokens even when no refresh token was issued.
 */
export function familyIdForCode(codeHash: string): string {
  return `code-${tokenHash(`family:${codeHash}`)}`;
}

export interface NewRefreshToken {
  /** The token value: returned to the client once, never stored. */
  token: string;
  row: RefreshTokenRecord;
}

/** Creates (without storing) a random 32-byte refresh token; stored rows hold its SHA-256 only. */
export function newRefreshToken(f: {
  familyId: string; clientId: string; userId: string; scope: string; resource: string;
  codeHash: string | null; now: number; expiresAt: number;
}): NewRefreshToken {
  const token = randomToken(32);
  return {
    token,
    row: {
      id: randomUUID(), tokenHash: tokenHash(token), familyId: f.familyId, clientId: f.clientId, userId: f.userId,
      scope: f.scope, resource: f.resource, codeHash: f.codeHash, createdAt: f.now, expiresAt: f.expiresAt,
      rotatedAt: null, successorId: null, successorSealed: null, revokedAt: null,
    },
  };
}

export function insertRefreshToken(tx: AuthWriter, row: RefreshTokenRecord): void {
  tx.insert(refreshTokens).values(row).run();
}

/** Finds a refresh token by its value (only the hash is looked up). */
export function findRefreshToken(tx: AuthWriter, token: string): RefreshTokenRecord | undefined {
  if (token.length > 200) return undefined;
  return tx.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, tokenHash(token))).get();
}

export function findRefreshTokenById(tx: AuthWriter, id: string): RefreshTokenRecord | undefined {
  return tx.select().from(refreshTokens).where(eq(refreshTokens.id, id)).get();
}

/**
 * Marks a token rotated with a conditional UPDATE (… WHERE rotated_at IS NULL AND revoked_at IS NULL):
 * of concurrent rotations of one token exactly one returns true. Call inside the transaction that
 * inserts the successor.
 */
export function markRotated(tx: AuthWriter, id: string, successorId: string, successorSealed: string, now: number): boolean {
  const r = tx.update(refreshTokens)
    .set({ rotatedAt: now, successorId, successorSealed })
    .where(and(eq(refreshTokens.id, id), isNull(refreshTokens.rotatedAt), isNull(refreshTokens.revokedAt)))
    .run();
  return r.changes === 1;
}

/**
 * Once a token is rotated, the successors sealed for its predecessors have been used and can no longer
 * be replayed: drop them now rather than at the end of their grace window.
 */
export function dropOlderSeals(tx: AuthWriter, familyId: string, successorOf: string): void {
  tx.update(refreshTokens).set({ successorSealed: null })
    .where(and(eq(refreshTokens.familyId, familyId), eq(refreshTokens.successorId, successorOf), isNotNull(refreshTokens.successorSealed)))
    .run();
}

/** Revokes every token issued from an authorization code (RFC 9700 §4.5.3.1, OAuth 2.1 §4.1.3). */
export function revokeTokensFromCode(tx: AuthWriter, codeHash: string, now: number): number {
  const families = tx.selectDistinct({ familyId: refreshTokens.familyId }).from(refreshTokens).where(eq(refreshTokens.codeHash, codeHash)).all();
  return revokeFamilies(tx, [familyIdForCode(codeHash), ...families.map((f) => f.familyId)], now);
}

/** Forgets sealed successors whose grace window has passed, and refresh tokens that have expired. */
export function purgeRefreshTokens(tx: AuthWriter, sealedBefore: number, now: number): void {
  tx.update(refreshTokens).set({ successorSealed: null })
    .where(and(isNotNull(refreshTokens.successorSealed), lt(refreshTokens.rotatedAt, sealedBefore)))
    .run();
  tx.delete(refreshTokens).where(lt(refreshTokens.expiresAt, now)).run();
}
