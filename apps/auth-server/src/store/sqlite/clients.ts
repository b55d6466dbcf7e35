import { and, asc, count, desc, eq, gt, inArray, isNull, lt, min, or, sql } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import { clientListOrder, clientStatusIs, clientSummaryColumns } from '../client-columns.ts';
import type { ClientRepo, PendingRequestRepo, SigningKeyRepo } from '../types.ts';
import { revokeGrants } from './grants.ts';
import type { HotStatements } from './hot-statements.ts';
import { evictionBatch, evictionPlan } from '../pending-eviction.ts';

const { clients, signingKeys, pendingAuthorizations: pending } = authSchema;

const summary = clientSummaryColumns(clients);
const listOrder = clientListOrder(clients);
const statusIs = clientStatusIs(clients);

// The order in which keys sign: each scheduled retirement hands over to the key scheduled next,
// and the one without a retirement time signs last (see SigningKeyRepo.active).
const signingOrder = [sql`${signingKeys.retiredAt} is null`, asc(signingKeys.retiredAt), asc(signingKeys.createdAt), asc(signingKeys.kid)];

export function sqliteClients(db: AuthDb, hot: HotStatements): ClientRepo {
  const find = (id: string) => hot.clientById.get({ id });
  return {
    async find(id) {
      return find(id);
    },
    async insert(row) {
      db.insert(clients).values(row).run();
    },
    async upsertCimd(row) {
      const { id: _id, source: _s, secretHash: _h, createdAt: _c, revokedAt: _r, resourceServer: _rs, pendingApproval: _p, ...values } = row;
      db.insert(clients).values(row).onConflictDoUpdate({ target: clients.id, set: values }).run();
      return find(row.id)!;
    },
    async list() {
      return db.select(summary).from(clients).orderBy(...listOrder).all();
    },
    async listPage(status, limit, offset) {
      return db.select(summary).from(clients).where(status && statusIs[status]).orderBy(...listOrder).limit(limit).offset(offset).all();
    },
    async markUsed(id, now, minGapMs) {
      db.update(clients).set({ lastUsedAt: now })
        .where(and(eq(clients.id, id), or(isNull(clients.lastUsedAt), lt(clients.lastUsedAt, now - minGapMs)))).run();
    },
    async revoke(id, now) {
      return db.transaction((tx) => {
        const row = tx.select({ revokedAt: clients.revokedAt }).from(clients).where(eq(clients.id, id)).get();
        if (!row) return undefined;
        // Tokens are revoked even when the client already was, in case any were issued in between.
        tx.update(clients).set({ revokedAt: row.revokedAt ?? now }).where(eq(clients.id, id)).run();
        return { alreadyRevoked: row.revokedAt !== null, ...revokeGrants(tx, { clientId: id }, now) };
      }, { behavior: 'immediate' });
    },
    async setResourceServer(id, value) {
      return db.update(clients).set({ resourceServer: value }).where(eq(clients.id, id)).run().changes > 0;
    },
    async approve(id) {
      return db.update(clients).set({ pendingApproval: false }).where(eq(clients.id, id)).run().changes > 0;
    },
    async replaceSecretHash(id, from, to) {
      return db.update(clients).set({ secretHash: to }).where(and(eq(clients.id, id), eq(clients.secretHash, from))).run().changes > 0;
    },
  };
}

export function sqliteSigningKeys(db: AuthDb): SigningKeyRepo {
  return {
    async active(now) {
      return db.select().from(signingKeys).where(or(isNull(signingKeys.retiredAt), gt(signingKeys.retiredAt, now)))
        .orderBy(...signingOrder).get();
    },
    async list() {
      return db.select().from(signingKeys).orderBy(desc(signingKeys.createdAt)).all();
    },
    async rotateTo(row, switchAt) {
      db.transaction((tx) => {
        tx.update(signingKeys).set({ retiredAt: switchAt }).where(isNull(signingKeys.retiredAt)).run();
        tx.insert(signingKeys).values(row).run();
      });
    },
    async rotateIfCreatedBy(row, createdBy, switchAt) {
      // 'immediate' takes the write lock before the read: another process's rotation waits for this
      // one to commit and then finds the new key.
      return db.transaction((tx) => {
        const live = tx.select({ createdAt: signingKeys.createdAt }).from(signingKeys).where(isNull(signingKeys.retiredAt)).all();
        if (live.length === 0 || live.some((r) => r.createdAt > createdBy)) return false;
        tx.update(signingKeys).set({ retiredAt: switchAt }).where(isNull(signingKeys.retiredAt)).run();
        tx.insert(signingKeys).values(row).run();
        return true;
      }, { behavior: 'immediate' });
    },
    async replaceAll(row) {
      return db.transaction((tx) => {
        const gone = tx.delete(signingKeys).returning({ kid: signingKeys.kid }).all().map((r) => r.kid);
        tx.insert(signingKeys).values(row).run();
        return gone;
      }, { behavior: 'immediate' });
    },
    async setEnvelopes(updates) {
      db.transaction((tx) => {
        for (const u of updates) tx.update(signingKeys).set({ privateKeyEnvelope: u.privateKeyEnvelope }).where(eq(signingKeys.kid, u.kid)).run();
      }, { behavior: 'immediate' });
    },
  };
}

export function sqlitePending(db: AuthDb): PendingRequestRepo {
  return {
    async add(idHash, request, bindingHash, addressKey, now, expiresAt, caps) {
      db.transaction((tx) => {
        tx.delete(pending).where(lt(pending.expiresAt, now)).run();
        const oldest = (key: string, n: number) => tx.select({ idHash: pending.idHash }).from(pending)
          .where(eq(pending.addressKey, key)).orderBy(asc(pending.createdAt)).limit(n).all().map((r) => r.idHash);
        const drop = (ids: string[]) => ids.length > 0 && tx.delete(pending).where(inArray(pending.idHash, ids)).run();
        const mine = tx.select({ n: count() }).from(pending).where(eq(pending.addressKey, addressKey)).get()?.n ?? 0;
        if (mine >= caps.perAddress) drop(oldest(addressKey, mine - caps.perAddress + 1));
        const n = tx.select({ n: count() }).from(pending).get()?.n ?? 0;
        if (n >= caps.max) {
          const needed = evictionBatch(n, caps.max);
          const groups = tx.select({ key: pending.addressKey, n: count() }).from(pending).groupBy(pending.addressKey)
            .orderBy(desc(count()), asc(min(pending.createdAt))).limit(needed).all();
          for (const [key, k] of evictionPlan(groups, needed)) drop(oldest(key, k));
        }
        tx.insert(pending).values({ idHash, request, bindingHash, addressKey, createdAt: now, expiresAt }).run();
      });
    },
    async get(idHash, now) {
      return db.select({ request: pending.request, bindingHash: pending.bindingHash }).from(pending)
        .where(and(eq(pending.idHash, idHash), gt(pending.expiresAt, now))).get();
    },
    async delete(idHash) {
      db.delete(pending).where(eq(pending.idHash, idHash)).run();
    },
  };
}
