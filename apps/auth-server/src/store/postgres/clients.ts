import { and, asc, count, desc, eq, gt, inArray, isNull, lt, min, or, sql } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import { clientListOrder, clientStatusIs, clientSummaryColumns } from '../client-columns.ts';
import type { ClientRepo, PendingRequestRepo, SigningKeyRepo } from '../types.ts';
import { evictionBatch, evictionPlan } from '../pending-eviction.ts';
import { revokeGrants } from './grants.ts';

const { clients, signingKeys, pendingAuthorizations: pending } = pgAuthSchema;

const summary = clientSummaryColumns(clients);
const listOrder = clientListOrder(clients);
const statusIs = clientStatusIs(clients);

// The order in which keys sign: each scheduled retirement hands over to the key scheduled next,
// and the one without a retirement time signs last (see SigningKeyRepo.active).
const signingOrder = [sql`${signingKeys.retiredAt} is null`, asc(signingKeys.retiredAt), asc(signingKeys.createdAt), asc(signingKeys.kid)];

export function pgClients(db: PgAuthDb): ClientRepo {
  return {
    async find(id) {
      return (await db.select().from(clients).where(eq(clients.id, id)).limit(1))[0];
    },
    async insert(row) {
      await db.insert(clients).values(row);
    },
    async upsertCimd(row) {
      const { id: _id, source: _s, secretHash: _h, createdAt: _c, revokedAt: _r, resourceServer: _rs, pendingApproval: _p, ...values } = row;
      const [stored] = await db.insert(clients).values(row).onConflictDoUpdate({ target: clients.id, set: values }).returning();
      return stored!;
    },
    async list() {
      return db.select(summary).from(clients).orderBy(...listOrder);
    },
    async listPage(status, limit, offset) {
      return db.select(summary).from(clients).where(status && statusIs[status]).orderBy(...listOrder).limit(limit).offset(offset);
    },
    async markUsed(id, now, minGapMs) {
      await db.update(clients).set({ lastUsedAt: now })
        .where(and(eq(clients.id, id), or(isNull(clients.lastUsedAt), lt(clients.lastUsedAt, now - minGapMs))));
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
    async setResourceServer(id, value) {
      return (await db.update(clients).set({ resourceServer: value }).where(eq(clients.id, id)).returning({ id: clients.id })).length > 0;
    },
    async approve(id) {
      return (await db.update(clients).set({ pendingApproval: false }).where(eq(clients.id, id)).returning({ id: clients.id })).length > 0;
    },
    async replaceSecretHash(id, from, to) {
      const updated = await db.update(clients).set({ secretHash: to }).where(and(eq(clients.id, id), eq(clients.secretHash, from))).returning({ id: clients.id });
      return updated.length > 0;
    },
  };
}

export function pgSigningKeys(db: PgAuthDb): SigningKeyRepo {
  return {
    async active(now) {
      return (await db.select().from(signingKeys).where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, now)))
        .orderBy(...signingOrder).limit(1))[0];
    },
    async list() {
      return db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt));
    },
    async rotateTo(row, switchAt) {
      await db.transaction(async (tx) => {
        await tx.update(signingKeys).set({ retiredAt: switchAt }).where(isNull(signingKeys.retiredAt));
        await tx.insert(signingKeys).values(row);
      });
    },
    async rotateIfCreatedBy(row, createdBy, switchAt) {
      return db.transaction(async (tx) => {
        // SHARE ROW EXCLUSIVE conflicts with itself and with writes, not with reads (the JWKS, signing):
        // a concurrent rotation waits here and, under READ COMMITTED, then reads the key this one added.
        await tx.execute(sql`lock table ${signingKeys} in share row exclusive mode`);
        const live = await tx.select({ createdAt: signingKeys.createdAt }).from(signingKeys).where(isNull(signingKeys.retiredAt));
        if (live.length === 0 || live.some((r) => r.createdAt > createdBy)) return false;
        await tx.update(signingKeys).set({ retiredAt: switchAt }).where(isNull(signingKeys.retiredAt));
        await tx.insert(signingKeys).values(row);
        return true;
      });
    },
    async replaceAll(row) {
      return db.transaction(async (tx) => {
        const gone = (await tx.delete(signingKeys).returning({ kid: signingKeys.kid })).map((r) => r.kid);
        await tx.insert(signingKeys).values(row);
        return gone;
      });
    },
    async setEnvelopes(updates) {
      await db.transaction(async (tx) => {
        for (const u of updates) await tx.update(signingKeys).set({ privateKeyEnvelope: u.privateKeyEnvelope }).where(eq(signingKeys.kid, u.kid));
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
