import { and, asc, count, desc, eq, gt, gte, inArray, isNull, notExists } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import { ownedBy, type GrantOwner } from '../grant-owner.ts';
import type { CodeRepo, NewTokens, RefreshTokenRecord, RevokedGrants, TokenRepo } from '../types.ts';
import { storeTokensPrepared, type HotStatements } from './hot-statements.ts';

const { authorizationCodes, refreshTokens, issuedAccessTokens, revokedAccessTokens } = authSchema;

const liveFamily = {
  familyId: refreshTokens.familyId, clientId: refreshTokens.clientId, scope: refreshTokens.scope, resource: refreshTokens.resource,
  createdAt: refreshTokens.createdAt, expiresAt: refreshTokens.expiresAt,
};
// A family's usable token: neither rotated (its successor is) nor revoked, not expired.
const liveOf = (userId: string, now: number) => and(
  eq(refreshTokens.userId, userId), isNull(refreshTokens.rotatedAt), isNull(refreshTokens.revokedAt), gt(refreshTokens.expiresAt, now),
);

/** The database or a transaction on it. */
export type Writer = Pick<AuthDb, 'select' | 'selectDistinct' | 'insert' | 'update' | 'delete'>;

function revokeAccess(tx: Writer, jti: string, expiresAt: number, now: number): void {
  tx.insert(revokedAccessTokens).values({ jti, expiresAt, revokedAt: now }).onConflictDoNothing().run();
}

/**
 * Revokes whole token families: every refresh token in them (rotated ones included, so a successor
 * handed out earlier dies too) and every access token issued from them that has not yet expired.
 */
export function revokeFamilies(tx: Writer, familyIds: readonly string[], now: number): number {
  const ids = [...new Set(familyIds)];
  let changed = 0;
  // Batches keep each IN (…) list well under SQLite's bound-parameter limit.
  for (let i = 0; i < ids.length; i += 500) {
    const batch = ids.slice(i, i + 500);
    changed += tx.update(refreshTokens).set({ revokedAt: now, successorSealed: null })
      .where(and(inArray(refreshTokens.familyId, batch), isNull(refreshTokens.revokedAt))).run().changes;
    const live = tx.select({ jti: issuedAccessTokens.jti, expiresAt: issuedAccessTokens.expiresAt }).from(issuedAccessTokens)
      .where(and(inArray(issuedAccessTokens.familyId, batch), gt(issuedAccessTokens.expiresAt, now))).all();
    for (const t of live) revokeAccess(tx, t.jti, t.expiresAt, now);
  }
  return changed;
}

/** Revokes every family of one user, one client, or one client for one user (RFC 7009 §2.1: a grant's access tokens go with it). */
export function revokeGrants(tx: Writer, by: GrantOwner, now: number): Omit<RevokedGrants, 'sessions'> {
  const rtOwner = and(...ownedBy(by, refreshTokens));
  const atOwner = and(...ownedBy(by, issuedAccessTokens));
  const liveAt = and(atOwner, gt(issuedAccessTokens.expiresAt, now));
  const accessTokens = tx.select({ n: count() }).from(issuedAccessTokens)
    .where(and(liveAt, notExists(tx.select({ jti: revokedAccessTokens.jti }).from(revokedAccessTokens).where(eq(revokedAccessTokens.jti, issuedAccessTokens.jti)))))
    .get()?.n ?? 0;
  const families = new Set([
    ...tx.selectDistinct({ f: refreshTokens.familyId }).from(refreshTokens).where(and(rtOwner, isNull(refreshTokens.revokedAt))).all().map((r) => r.f),
    ...tx.selectDistinct({ f: issuedAccessTokens.familyId }).from(issuedAccessTokens).where(liveAt).all().map((r) => r.f),
  ]);
  return { refreshTokens: revokeFamilies(tx, [...families], now), accessTokens };
}

export function sqliteCodes(db: AuthDb, hot: HotStatements): CodeRepo {
  // Prepared once (better-sqlite3 transaction functions are reusable); runs deferred, like db.transaction.
  const redeem = db.$client.transaction((codeHash: string, now: number, tokens: NewTokens): boolean => {
    if (hot.consumeCode.run({ hash: codeHash, now }).changes !== 1) return false;
    storeTokensPrepared(hot, tokens);
    return true;
  });
  return {
    async insert(row) {
      db.insert(authorizationCodes).values(row).run();
    },
    async findByHash(codeHash) {
      return hot.codeByHash.get({ hash: codeHash });
    },
    async redeem(codeHash, now, tokens) {
      return redeem(codeHash, now, tokens);
    },
  };
}

export function sqliteTokens(db: AuthDb, hot: HotStatements): TokenRepo {
  const rotate = db.$client.transaction((oldId: string, sealed: string, now: number, tokens: NewTokens & { refresh: RefreshTokenRecord }): boolean => {
    if (hot.markRotated.run({ id: oldId, now, successorId: tokens.refresh.id, sealed }).changes !== 1) return false;
    // The successors sealed for this token's predecessors have been used: they can no longer be replayed.
    hot.dropOlderSeals.run({ familyId: tokens.refresh.familyId, oldId });
    storeTokensPrepared(hot, tokens);
    return true;
  });
  return {
    async findRefreshByHash(hash) {
      return hot.refreshByHash.get({ hash });
    },
    async findRefreshById(id) {
      return hot.refreshById.get({ id });
    },
    async rotate(oldId, sealed, now, tokens) {
      return rotate(oldId, sealed, now, tokens);
    },
    async revokeFamilies(familyIds, now) {
      if (familyIds.length === 0) return 0;
      return db.transaction((tx) => revokeFamilies(tx, familyIds, now));
    },
    async revokeFromCode(codeHash, codeFamilyId, now) {
      return db.transaction((tx) => {
        const families = tx.selectDistinct({ f: refreshTokens.familyId }).from(refreshTokens).where(eq(refreshTokens.codeHash, codeHash)).all();
        return revokeFamilies(tx, [codeFamilyId, ...families.map((f) => f.f)], now);
      });
    },
    async revokeAccessToken(jti, expiresAt, now) {
      revokeAccess(db, jti, expiresAt, now);
    },
    async isAccessTokenRevoked(jti) {
      return db.select({ jti: revokedAccessTokens.jti }).from(revokedAccessTokens).where(eq(revokedAccessTokens.jti, jti)).get() !== undefined;
    },
    async listRevocations(since, now, limit) {
      return db.select({ jti: revokedAccessTokens.jti, expiresAt: revokedAccessTokens.expiresAt, revokedAt: revokedAccessTokens.revokedAt })
        .from(revokedAccessTokens)
        .where(and(gte(revokedAccessTokens.revokedAt, since), gt(revokedAccessTokens.expiresAt, now)))
        .orderBy(asc(revokedAccessTokens.revokedAt)).limit(limit).all();
    },
    async issuedByFamily(familyId) {
      return db.select().from(issuedAccessTokens).where(eq(issuedAccessTokens.familyId, familyId)).all();
    },
    async liveFamiliesForUser(userId, now, limit) {
      return db.select(liveFamily).from(refreshTokens).where(liveOf(userId, now)).orderBy(desc(refreshTokens.createdAt)).limit(limit).all();
    },
    async recordAccessToken(row) {
      db.insert(issuedAccessTokens).values(row).run();
    },
  };
}
