import { and, asc, count, desc, eq, gt, gte, inArray, isNotNull, isNull, notExists, sql } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import { ownedBy, type GrantOwner } from '../grant-owner.ts';
import type { CodeRepo, NewTokens, RevokedGrants, TokenRepo } from '../types.ts';

const { authorizationCodes, refreshTokens, issuedAccessTokens, revokedAccessTokens } = pgAuthSchema;

const liveFamily = {
  familyId: refreshTokens.familyId, clientId: refreshTokens.clientId, scope: refreshTokens.scope, resource: refreshTokens.resource,
  createdAt: refreshTokens.createdAt, expiresAt: refreshTokens.expiresAt,
};
// A family's usable token: neither rotated (its successor is) nor revoked, not expired.
const liveOf = (userId: string, now: number) => and(
  eq(refreshTokens.userId, userId), isNull(refreshTokens.rotatedAt), isNull(refreshTokens.revokedAt), gt(refreshTokens.expiresAt, now),
);

/** The pool or a transaction on it. */
export type PgWriter = Pick<PgAuthDb, 'select' | 'selectDistinct' | 'insert' | 'update' | 'delete'>;

async function storeTokens(tx: PgWriter, t: NewTokens): Promise<void> {
  if (t.refresh) await tx.insert(refreshTokens).values(t.refresh);
  await tx.insert(issuedAccessTokens).values(t.access);
}

/**
 * Revokes whole token families: their refresh tokens (rotated ones included) and unexpired access
 * tokens. A rotation committing meanwhile holds the row lock on the token it rotates, so the UPDATE
 * waits for it; the next pass, a new statement under READ COMMITTED, then sees the successor that
 * rotation inserted. Repeating until a pass changes nothing leaves no member of a family unrevoked.
 */
export async function revokeFamilies(tx: PgWriter, familyIds: readonly string[], now: number): Promise<number> {
  const ids = [...new Set(familyIds)];
  if (ids.length === 0) return 0;
  let changed = 0;
  for (;;) {
    const r = await tx.update(refreshTokens).set({ revokedAt: now, successorSealed: null })
      .where(and(inArray(refreshTokens.familyId, ids), isNull(refreshTokens.revokedAt)));
    if (!r.rowCount) break;
    changed += r.rowCount;
  }
  await tx.insert(revokedAccessTokens)
    .select(tx.select({ jti: issuedAccessTokens.jti, expiresAt: issuedAccessTokens.expiresAt, revokedAt: sql<number>`${now}::bigint`.as('revoked_at') })
      .from(issuedAccessTokens).where(and(inArray(issuedAccessTokens.familyId, ids), gt(issuedAccessTokens.expiresAt, now))))
    .onConflictDoNothing();
  return changed;
}

/** Revokes every family of one user, one client, or one client for one user (RFC 7009 §2.1: a grant's access tokens go with it). */
export async function revokeGrants(tx: PgWriter, by: GrantOwner, now: number): Promise<Omit<RevokedGrants, 'sessions'>> {
  const rtOwner = and(...ownedBy(by, refreshTokens));
  const atOwner = and(...ownedBy(by, issuedAccessTokens));
  const liveAt = and(atOwner, gt(issuedAccessTokens.expiresAt, now));
  const [counted] = await tx.select({ n: count() }).from(issuedAccessTokens)
    .where(and(liveAt, notExists(tx.select({ jti: revokedAccessTokens.jti }).from(revokedAccessTokens).where(eq(revokedAccessTokens.jti, issuedAccessTokens.jti)))));
  const families = new Set([
    ...(await tx.selectDistinct({ f: refreshTokens.familyId }).from(refreshTokens).where(and(rtOwner, isNull(refreshTokens.revokedAt)))).map((r) => r.f),
    ...(await tx.selectDistinct({ f: issuedAccessTokens.familyId }).from(issuedAccessTokens).where(liveAt)).map((r) => r.f),
  ]);
  return { refreshTokens: await revokeFamilies(tx, [...families], now), accessTokens: counted?.n ?? 0 };
}

export function pgCodes(db: PgAuthDb): CodeRepo {
  return {
    async insert(row) {
      await db.insert(authorizationCodes).values(row);
    },
    async findByHash(codeHash) {
      return (await db.select().from(authorizationCodes).where(eq(authorizationCodes.codeHash, codeHash)).limit(1))[0];
    },
    async redeem(codeHash, now, tokens) {
      return db.transaction(async (tx) => {
        // A concurrent redemption waits on this row lock, then finds consumed_at set and changes nothing.
        const r = await tx.update(authorizationCodes).set({ consumedAt: now })
          .where(and(eq(authorizationCodes.codeHash, codeHash), isNull(authorizationCodes.consumedAt)));
        if (r.rowCount !== 1) return false;
        await storeTokens(tx, tokens);
        return true;
      });
    },
  };
}

export function pgTokens(db: PgAuthDb): TokenRepo {
  return {
    async findRefreshByHash(hash) {
      return (await db.select().from(refreshTokens).where(eq(refreshTokens.tokenHash, hash)).limit(1))[0];
    },
    async findRefreshById(id) {
      return (await db.select().from(refreshTokens).where(eq(refreshTokens.id, id)).limit(1))[0];
    },
    async rotate(oldId, sealed, now, tokens) {
      return db.transaction(async (tx) => {
        const r = await tx.update(refreshTokens).set({ rotatedAt: now, successorId: tokens.refresh.id, successorSealed: sealed })
          .where(and(eq(refreshTokens.id, oldId), isNull(refreshTokens.rotatedAt), isNull(refreshTokens.revokedAt)));
        if (r.rowCount !== 1) return false;
        await tx.update(refreshTokens).set({ successorSealed: null })
          .where(and(eq(refreshTokens.familyId, tokens.refresh.familyId), eq(refreshTokens.successorId, oldId), isNotNull(refreshTokens.successorSealed)));
        await storeTokens(tx, tokens);
        return true;
      });
    },
    async revokeFamilies(familyIds, now) {
      if (familyIds.length === 0) return 0;
      return db.transaction((tx) => revokeFamilies(tx, familyIds, now));
    },
    async revokeFromCode(codeHash, codeFamilyId, now) {
      return db.transaction(async (tx) => {
        const families = await tx.selectDistinct({ f: refreshTokens.familyId }).from(refreshTokens).where(eq(refreshTokens.codeHash, codeHash));
        return revokeFamilies(tx, [codeFamilyId, ...families.map((f) => f.f)], now);
      });
    },
    async revokeAccessToken(jti, expiresAt, now) {
      await db.insert(revokedAccessTokens).values({ jti, expiresAt, revokedAt: now }).onConflictDoNothing();
    },
    async isAccessTokenRevoked(jti) {
      return (await db.select({ jti: revokedAccessTokens.jti }).from(revokedAccessTokens).where(eq(revokedAccessTokens.jti, jti)).limit(1)).length > 0;
    },
    async listRevocations(since, now, limit) {
      return db.select({ jti: revokedAccessTokens.jti, expiresAt: revokedAccessTokens.expiresAt, revokedAt: revokedAccessTokens.revokedAt })
        .from(revokedAccessTokens)
        .where(and(gte(revokedAccessTokens.revokedAt, since), gt(revokedAccessTokens.expiresAt, now)))
        .orderBy(asc(revokedAccessTokens.revokedAt)).limit(limit);
    },
    async issuedByFamily(familyId) {
      return db.select().from(issuedAccessTokens).where(eq(issuedAccessTokens.familyId, familyId));
    },
    async liveFamiliesForUser(userId, now, limit) {
      return db.select(liveFamily).from(refreshTokens).where(liveOf(userId, now)).orderBy(desc(refreshTokens.createdAt)).limit(limit);
    },
    async recordAccessToken(row) {
      await db.insert(issuedAccessTokens).values(row);
    },
  };
}
