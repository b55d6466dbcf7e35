import { and, asc, count, eq, gt, lt } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import { mergeScopes } from '../merge-scopes.ts';
import type { ConsentKey, ConsentRepo, RevokedGrants, SessionRepo, UserRepo } from '../types.ts';
import { revokeGrants, type PgWriter } from './grants.ts';

const { users, sessions, consents } = pgAuthSchema;

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
  };
}
