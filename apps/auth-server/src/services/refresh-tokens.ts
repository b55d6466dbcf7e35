import { randomUUID } from 'node:crypto';
import { randomToken, tokenHash } from '@stack/crypto';
import type { AppContext } from '../context.ts';
import type { RefreshTokenRecord } from '../store/index.ts';

export type { RefreshTokenRecord };

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
  codeHash: string | null; now: number; expiresAt: number; dpopJkt: string | null;
}): NewRefreshToken {
  const token = randomToken(32);
  return {
    token,
    row: {
      id: randomUUID(), tokenHash: tokenHash(token), familyId: f.familyId, clientId: f.clientId, userId: f.userId,
      scope: f.scope, resource: f.resource, codeHash: f.codeHash, createdAt: f.now, expiresAt: f.expiresAt,
      rotatedAt: null, successorId: null, successorSealed: null, revokedAt: null, dpopJkt: f.dpopJkt,
    },
  };
}

/** Finds a refresh token by its value (only the hash is looked up). */
export async function findRefreshToken(ctx: AppContext, token: string): Promise<RefreshTokenRecord | undefined> {
  if (token.length > 200) return undefined;
  return ctx.store.tokens.findRefreshByHash(tokenHash(token));
}

/** Revokes every token issued from an authorization code (RFC 9700 §4.5.3.1, OAuth 2.1 §4.1.3). */
export function revokeTokensFromCode(ctx: AppContext, codeHash: string, now: number): Promise<number> {
  return ctx.store.tokens.revokeFromCode(codeHash, familyIdForCode(codeHash), now);
}
