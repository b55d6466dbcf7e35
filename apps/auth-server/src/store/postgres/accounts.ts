import { and, asc, count, desc, eq, gt, isNull, lt, max, ne, or } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import { mergeScopes } from '../merge-scopes.ts';
import type { ConsentKey, ConsentRepo, RevokedGrants, SessionRepo, UserRepo } from '../types.ts';
import { revokeGrants, type PgWriter } from './grants.ts';

const { users, sessions, consents, authorizationCodes, refreshTokens, passwordResets } = pgAuthSchema;
// Rows that belong to a user alone, deleted with the user (SQLite would cascade most; PostgreSQL has no foreign keys).
const { totpFactors, recoveryCodes, passkeys, webauthnChallenges, federatedIdentities } = pgAuthSchema;

/** Ends the user's sessions except `keep` (an id hash); returns how many ended. */
export async function endSessions(tx: PgWriter, userId: string, keep: string | undefined): Promise<number> {
  const others = keep === undefined ? undefined : ne(sessions.idHash, keep);
  return (await tx.delete(sessions).where(and(eq(sessions.userId, userId), others))).rowCount ?? 0;
}

async function revokeAll(tx: PgWriter, userId: string, now: number): Promise<RevokedGrants> {
  const s = await tx.delete(sessions).where(eq(sessions.userId, userId));
  return { ...(await revokeGrants(tx, { userId }, now)), sessions: s.rowCount ?? 0 };
}

export function pgUsers(db: PgAuthDb): UserRepo {
  return {
    async count() {
      return (await db.select({ n: count() }).from(users))[0]?.n ?? 0;
    },
    async findById(id) {
      return (await db.select().from(users).where(eq(users.id, id)).limit(1))[0];
    },
    async findByEmail(email) {
      return (await db.select().from(users).where(eq(users.email, email)).limit(1))[0];
    },
    async insert(row) {
      return (await db.insert(users).values(row).onConflictDoNothing()).rowCount === 1;
    },
    async list() {
      return db.select({ id: users.id, email: users.email, role: users.role, createdAt: users.createdAt, disabledAt: users.disabledAt })
        .from(users).orderBy(asc(users.createdAt), asc(users.email));
    },
    async listPage(limit, offset) {
      return db.select({ id: users.id, email: users.email, role: users.role, createdAt: users.createdAt, disabledAt: users.disabledAt })
        .from(users).orderBy(asc(users.createdAt), asc(users.email)).limit(limit).offset(offset);
    },
    async setRole(id, role, revokeAt) {
      return db.transaction(async (tx) => {
        await tx.update(users).set({ role }).where(eq(users.id, id));
        return revokeAt === undefined ? undefined : revokeAll(tx, id, revokeAt);
      });
    },
    async disable(id, disabledAt, now) {
      return db.transaction(async (tx) => {
        await tx.update(users).set({ disabledAt }).where(eq(users.id, id));
        return revokeAll(tx, id, now);
      });
    },
    async enable(id) {
      await db.update(users).set({ disabledAt: null }).where(eq(users.id, id));
    },
    async setPassword(id, passwordHash, keepSession) {
      return db.transaction(async (tx) => {
        await tx.update(users).set({ passwordHash }).where(eq(users.id, id));
        return endSessions(tx, id, keepSession);
      });
    },
    async delete(id, now) {
      return db.transaction(async (tx) => {
        // The row lock first: a sign-in or grant of this user committing meanwhile is waited for.
        await tx.select({ id: users.id }).from(users).where(eq(users.id, id)).for('update');
        const revoked = await revokeAll(tx, id, now);
        const c = await tx.delete(consents).where(eq(consents.userId, id));
        await tx.delete(authorizationCodes).where(and(eq(authorizationCodes.userId, id), isNull(authorizationCodes.consumedAt)));
        for (const t of [passwordResets, totpFactors, recoveryCodes, passkeys, webauthnChallenges, federatedIdentities]) await tx.delete(t).where(eq(t.userId, id));
        await tx.delete(users).where(eq(users.id, id));
        return { ...revoked, consents: c.rowCount ?? 0 };
      });
    },
  };
}

export function pgSessions(db: PgAuthDb): SessionRepo {
  return {
    async create(row, now) {
      await db.transaction(async (tx) => {
        await tx.delete(sessions).where(lt(sessions.expiresAt, now));
        await tx.insert(sessions).values(row);
      });
    },
    async findLive(idHash, now) {
      return (await db.select().from(sessions).where(and(eq(sessions.idHash, idHash), gt(sessions.expiresAt, now))).limit(1))[0];
    },
    async delete(idHash) {
      await db.delete(sessions).where(eq(sessions.idHash, idHash));
    },
    async listForUser(userId, now) {
      return db.select().from(sessions).where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now))).orderBy(desc(sessions.createdAt));
    },
    async touch(idHash, now, before) {
      await db.update(sessions).set({ lastSeenAt: now })
        .where(and(eq(sessions.idHash, idHash), or(isNull(sessions.lastSeenAt), lt(sessions.lastSeenAt, before))));
    },
    async deleteForUser(userId, idHash) {
      return (await db.delete(sessions).where(and(eq(sessions.userId, userId), eq(sessions.idHash, idHash)))).rowCount === 1;
    },
    async deleteOthersForUser(userId, keep) {
      return endSessions(db, userId, keep);
    },
  };
}

export function pgConsents(db: PgAuthDb): ConsentRepo {
  const where = (k: ConsentKey) => and(eq(consents.userId, k.userId), eq(consents.clientId, k.clientId), eq(consents.resource, k.resource));
  return {
    async find(k) {
      return (await db.select({ scope: consents.scope }).from(consents).where(where(k)).limit(1))[0]?.scope;
    },
    async grant(k, scopes, now) {
      await db.transaction(async (tx) => {
        // The row exists (a concurrent insert of it is waited for), then is locked while the scopes merge.
        await tx.insert(consents).values({ ...k, scope: '', createdAt: now }).onConflictDoNothing();
        const [row] = await tx.select({ scope: consents.scope }).from(consents).where(where(k)).for('update');
        await tx.update(consents).set({ scope: mergeScopes(row?.scope, scopes), createdAt: now }).where(where(k));
      });
    },
    async listForUser(userId) {
      const lastUsed = db.select({ clientId: refreshTokens.clientId, at: max(refreshTokens.createdAt).as('last_used_at') })
        .from(refreshTokens).where(eq(refreshTokens.userId, userId)).groupBy(refreshTokens.clientId).as('last_used');
      return db.select({ clientId: consents.clientId, resource: consents.resource, scope: consents.scope, createdAt: consents.createdAt, lastUsedAt: lastUsed.at })
        .from(consents).leftJoin(lastUsed, eq(lastUsed.clientId, consents.clientId))
        .where(eq(consents.userId, userId)).orderBy(desc(consents.createdAt), asc(consents.clientId));
    },
    async revokeForUser(userId, clientId, now) {
      return db.transaction(async (tx) => {
        const c = await tx.delete(consents).where(and(eq(consents.userId, userId), eq(consents.clientId, clientId)));
        await tx.delete(authorizationCodes)
          .where(and(eq(authorizationCodes.userId, userId), eq(authorizationCodes.clientId, clientId), isNull(authorizationCodes.consumedAt)));
        return { consents: c.rowCount ?? 0, ...(await revokeGrants(tx, { userId, clientId }, now)) };
      });
    },
  };
}
