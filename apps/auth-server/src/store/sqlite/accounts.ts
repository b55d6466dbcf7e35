import { and, asc, count, eq, gt, lt } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import { mergeScopes } from '../merge-scopes.ts';
import type { ConsentRepo, RevokedGrants, SessionRepo, UserRepo } from '../types.ts';
import { revokeGrants, type Writer } from './grants.ts';
import type { HotStatements } from './hot-statements.ts';

const { users, sessions, consents } = authSchema;

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
  };
}
