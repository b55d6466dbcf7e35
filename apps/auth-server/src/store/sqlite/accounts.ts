import { and, asc, count, desc, eq, gt, isNull, lt, max, ne, or } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import { mergeScopes } from '../merge-scopes.ts';
import type { ConsentRepo, RevokedGrants, SessionRepo, UserRepo } from '../types.ts';
import { revokeGrants, type Writer } from './grants.ts';
import type { HotStatements } from './hot-statements.ts';

const { users, sessions, consents, authorizationCodes, refreshTokens, passwordResets } = authSchema;
// Rows that belong to a user alone, deleted with the user (SQLite would cascade most; PostgreSQL has no foreign keys).
const { totpFactors, recoveryCodes, passkeys, webauthnChallenges, federatedIdentities } = authSchema;

/** Ends the user's sessions except `keep` (an id hash); returns how many ended. */
export function endSessions(tx: Writer, userId: string, keep: string | undefined): number {
  const others = keep === undefined ? undefined : ne(sessions.idHash, keep);
  return tx.delete(sessions).where(and(eq(sessions.userId, userId), others)).run().changes;
}

function revokeAll(tx: Writer, userId: string, now: number): RevokedGrants {
  const s = tx.delete(sessions).where(eq(sessions.userId, userId)).run();
  return { ...revokeGrants(tx, { userId }, now), sessions: s.changes };
}

export function sqliteUsers(db: AuthDb, hot: HotStatements): UserRepo {
  return {
    async count() {
      return db.select({ n: count() }).from(users).get()?.n ?? 0;
    },
    async findById(id) {
      return hot.userById.get({ id });
    },
    async findByEmail(email) {
      return db.select().from(users).where(eq(users.email, email)).get();
    },
    async insert(row) {
      return db.insert(users).values(row).onConflictDoNothing().run().changes === 1;
    },
    async list() {
      return db.select({ id: users.id, email: users.email, role: users.role, createdAt: users.createdAt, disabledAt: users.disabledAt })
        .from(users).orderBy(asc(users.createdAt), asc(users.email)).all();
    },
    async listPage(limit, offset) {
      return db.select({ id: users.id, email: users.email, role: users.role, createdAt: users.createdAt, disabledAt: users.disabledAt })
        .from(users).orderBy(asc(users.createdAt), asc(users.email)).limit(limit).offset(offset).all();
    },
    async setRole(id, role, revokeAt) {
      return db.transaction((tx) => {
        tx.update(users).set({ role }).where(eq(users.id, id)).run();
        return revokeAt === undefined ? undefined : revokeAll(tx, id, revokeAt);
      });
    },
    async disable(id, disabledAt, now) {
      return db.transaction((tx) => {
        tx.update(users).set({ disabledAt }).where(eq(users.id, id)).run();
        return revokeAll(tx, id, now);
      });
    },
    async enable(id) {
      db.update(users).set({ disabledAt: null }).where(eq(users.id, id)).run();
    },
    async setPassword(id, passwordHash, keepSession) {
      return db.transaction((tx) => {
        tx.update(users).set({ passwordHash }).where(eq(users.id, id)).run();
        return endSessions(tx, id, keepSession);
      });
    },
    async delete(id, now) {
      return db.transaction((tx) => {
        const revoked = revokeAll(tx, id, now);
        const c = tx.delete(consents).where(eq(consents.userId, id)).run();
        tx.delete(authorizationCodes).where(and(eq(authorizationCodes.userId, id), isNull(authorizationCodes.consumedAt))).run();
        for (const t of [passwordResets, totpFactors, recoveryCodes, passkeys, webauthnChallenges, federatedIdentities]) tx.delete(t).where(eq(t.userId, id)).run();
        tx.delete(users).where(eq(users.id, id)).run();
        return { ...revoked, consents: c.changes };
      });
    },
  };
}

export function sqliteSessions(db: AuthDb): SessionRepo {
  return {
    async create(row, now) {
      db.transaction((tx) => {
        tx.delete(sessions).where(lt(sessions.expiresAt, now)).run();
        tx.insert(sessions).values(row).run();
      });
    },
    async findLive(idHash, now) {
      return db.select().from(sessions).where(and(eq(sessions.idHash, idHash), gt(sessions.expiresAt, now))).get();
    },
    async delete(idHash) {
      db.delete(sessions).where(eq(sessions.idHash, idHash)).run();
    },
    async listForUser(userId, now) {
      return db.select().from(sessions).where(and(eq(sessions.userId, userId), gt(sessions.expiresAt, now)))
        .orderBy(desc(sessions.createdAt)).all();
    },
    async touch(idHash, now, before) {
      db.update(sessions).set({ lastSeenAt: now })
        .where(and(eq(sessions.idHash, idHash), or(isNull(sessions.lastSeenAt), lt(sessions.lastSeenAt, before)))).run();
    },
    async deleteForUser(userId, idHash) {
      return db.delete(sessions).where(and(eq(sessions.userId, userId), eq(sessions.idHash, idHash))).run().changes === 1;
    },
    async deleteOthersForUser(userId, keep) {
      return endSessions(db, userId, keep);
    },
  };
}

export function sqliteConsents(db: AuthDb): ConsentRepo {
  const where = (k: { userId: string; clientId: string; resource: string }) =>
    and(eq(consents.userId, k.userId), eq(consents.clientId, k.clientId), eq(consents.resource, k.resource));
  return {
    async find(k) {
      return db.select({ scope: consents.scope }).from(consents).where(where(k)).get()?.scope;
    },
    async grant(k, scopes, now) {
      // IMMEDIATE takes the write lock before the read, so the merge cannot lose a concurrent grant.
      db.transaction((tx) => {
        const scope = mergeScopes(tx.select({ scope: consents.scope }).from(consents).where(where(k)).get()?.scope, scopes);
        tx.insert(consents).values({ ...k, scope, createdAt: now })
          .onConflictDoUpdate({ target: [consents.userId, consents.clientId, consents.resource], set: { scope, createdAt: now } }).run();
      }, { behavior: 'immediate' });
    },
    async listForUser(userId) {
      const lastUsed = db.select({ clientId: refreshTokens.clientId, at: max(refreshTokens.createdAt).as('last_used_at') })
        .from(refreshTokens).where(eq(refreshTokens.userId, userId)).groupBy(refreshTokens.clientId).as('last_used');
      return db.select({ clientId: consents.clientId, resource: consents.resource, scope: consents.scope, createdAt: consents.createdAt, lastUsedAt: lastUsed.at })
        .from(consents).leftJoin(lastUsed, eq(lastUsed.clientId, consents.clientId))
        .where(eq(consents.userId, userId)).orderBy(desc(consents.createdAt), asc(consents.clientId)).all();
    },
    async revokeForUser(userId, clientId, now) {
      return db.transaction((tx) => {
        const c = tx.delete(consents).where(and(eq(consents.userId, userId), eq(consents.clientId, clientId))).run();
        tx.delete(authorizationCodes)
          .where(and(eq(authorizationCodes.userId, userId), eq(authorizationCodes.clientId, clientId), isNull(authorizationCodes.consumedAt))).run();
        return { consents: c.changes, ...revokeGrants(tx, { userId, clientId }, now) };
      });
    },
  };
}
