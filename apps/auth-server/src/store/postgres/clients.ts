import { and, asc, count, desc, eq, gt, inArray, isNull, lt, min } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import type { ClientRepo, PendingRequestRepo, SigningKeyRepo } from '../types.ts';
import { evictionBatch, evictionPlan } from '../pending-eviction.ts';
import { revokeGrants } from './grants.ts';

const { clients, signingKeys, pendingAuthorizations: pending } = pgAuthSchema;

export function pgClients(db: PgAuthDb): ClientRepo {
  return {
    async find(id) {
      return (await db.select().from(clients).where(eq(clients.id, id)).limit(1))[0];
    },
    async insert(row) {
      await db.insert(clients).values(row);
    },
    async upsertCimd(row) {
      const { id: _id, source: _s, secretHash: _h, createdAt: _c, revokedAt: _r, ...values } = row;
      const [stored] = await db.insert(clients).values(row).onConflictDoUpdate({ target: clients.id, set: values }).returning();
      return stored!;
    },
    async list() {
      return db.select({
        id: clients.id, source: clients.source, clientName: clients.clientName, redirectUris: clients.redirectUris,
        tokenEndpointAuthMethod: clients.tokenEndpointAuthMethod, scope: clients.scope, createdAt: clients.createdAt, revokedAt: clients.revokedAt,
      }).from(clients).orderBy(asc(clients.createdAt), asc(clients.id));
    },
    async revoke(id, now) {
      return db.transaction(async (tx) => {
        const [row] = await tx.select({ revokedAt: clients.revokedAt }).from(clients).where(eq(clients.id, id)).for('update');
        if (!row) return undefined;
        // Tokens are revoked even when the client already was, in case any were issued in between.
        await tx.update(clients).set({ revokedAt: row.revokedAt ?? now }).where(eq(clients.id, id));
        return { alreadyRevoked: row.revokedAt !== null, ...(await revokeGrants(tx, { clientId: id }, now)) };
      });
    },
  };
}

export function pgSigningKeys(db: PgAuthDb): SigningKeyRepo {
  return {
    async active() {
      return (await db.select().from(signingKeys).where(isNull(signingKeys.retiredAt)).orderBy(desc(signingKeys.createdAt)).limit(1))[0];
    },
    async list() {
      return db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt));
    },
    async rotateTo(row) {
      await db.transaction(async (tx) => {
        await tx.update(signingKeys).set({ retiredAt: row.createdAt }).where(isNull(signingKeys.retiredAt));
        await tx.insert(signingKeys).values(row);
      });
    },
  };
}

export function pgPending(db: PgAuthDb): PendingRequestRepo {
  return {
    async add(idHash, request, bindingHash, addressKey, now, expiresAt, caps) {
      await db.transaction(async (tx) => {
        await tx.delete(pending).where(lt(pending.expiresAt, now));
        const oldest = async (key: string, n: number) => (await tx.select({ idHash: pending.idHash }).from(pending)
          .where(eq(pending.addressKey, key)).orderBy(asc(pending.createdAt)).limit(n)).map((r) => r.idHash);
        const drop = async (ids: string[]) => void (ids.length > 0 && (await tx.delete(pending).where(inArray(pending.idHash, ids))));
        // Concurrent adds may each see room and overshoot a cap by a few: the bounds are approximate, never unbounded.
        const mine = (await tx.select({ n: count() }).from(pending).where(eq(pending.addressKey, addressKey)))[0]?.n ?? 0;
        if (mine >= caps.perAddress) await drop(await oldest(addressKey, mine - caps.perAddress + 1));
        const n = (await tx.select({ n: count() }).from(pending))[0]?.n ?? 0;
        if (n >= caps.max) {
          const needed = evictionBatch(n, caps.max);
          const groups = await tx.select({ key: pending.addressKey, n: count() }).from(pending).groupBy(pending.addressKey)
            .orderBy(desc(count()), asc(min(pending.createdAt))).limit(needed);
          for (const [key, k] of evictionPlan(groups, needed)) await drop(await oldest(key, k));
        }
        await tx.insert(pending).values({ idHash, request, bindingHash, addressKey, createdAt: now, expiresAt });
      });
    },
    async get(idHash, now) {
      return (await db.select({ request: pending.request, bindingHash: pending.bindingHash }).from(pending)
        .where(and(eq(pending.idHash, idHash), gt(pending.expiresAt, now))).limit(1))[0];
    },
    async delete(idHash) {
      await db.delete(pending).where(eq(pending.idHash, idHash));
    },
  };
}
