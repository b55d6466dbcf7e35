import { eq, getTableColumns, sql } from 'drizzle-orm';
import { availabilityGuard, guarded, openMcpPg, pgAuditAnchors, pgMcpSchema, type AvailabilityLog, type PgOptions } from '@stack/db/pg';
import type { McpStore } from './types.ts';

const { apiKeys, secrets, auditAnchors } = pgMcpSchema;

// A database outage is logged once per this interval, not once per request.
const UNAVAILABLE_LOG_INTERVAL_MS = 30_000;
const silent: AvailabilityLog = { unavailable: () => {}, recovered: () => {} };

/**
 * The store several instances share: the `mcp_` tables in PostgreSQL (MCP_DATABASE_SCHEMA).
 * Each step is one statement or one transaction, so it holds whichever instance runs it. An
 * unreachable database fails closed, as the auth server's: StoreUnavailableError, answered 503 with
 * Retry-After (a key is never accepted unchecked), logged once per interval.
 */
export async function openPgMcpStore(o: PgOptions, log: AvailabilityLog = silent): Promise<McpStore> {
  const db = await openMcpPg(o);
  const run = availabilityGuard(log, UNAVAILABLE_LOG_INTERVAL_MS);
  return {
    engine: 'postgres',
    apiKeys: guarded({
      async insert(row) {
        await db.insert(apiKeys).values(row);
      },
      async get(id) {
        return (await db.select().from(apiKeys).where(eq(apiKeys.id, id)).limit(1))[0];
      },
      async revoke(id, at) {
        const done = await db.update(apiKeys).set({ revokedAt: at }).where(sql`${apiKeys.id} = ${id} and ${apiKeys.revokedAt} is null`).returning({ id: apiKeys.id });
        return done.length > 0;
      },
      async list() {
        const { salt: _s, hash: _h, ...info } = getTableColumns(apiKeys);
        return db.select(info).from(apiKeys).orderBy(apiKeys.createdAt, apiKeys.id);
      },
    }, run),
    secrets: guarded({
      async get(name) {
        return (await db.select().from(secrets).where(eq(secrets.name, name)).limit(1))[0];
      },
      async put(row) {
        const { name: _n, ...values } = row;
        await db.insert(secrets).values(row).onConflictDoUpdate({ target: secrets.name, set: values });
      },
      async list() {
        return db.select({ name: secrets.name, updatedAt: secrets.updatedAt }).from(secrets).orderBy(secrets.name);
      },
      async delete(name) {
        return (await db.delete(secrets).where(eq(secrets.name, name)).returning({ name: secrets.name })).length > 0;
      },
      async rewrap(next) {
        return db.transaction(async (tx) => {
          let n = 0;
          // Locked: a secret set meanwhile waits, and is not overwritten with its older envelope.
          for (const row of await tx.select().from(secrets).for('update')) {
            const envelope = next(row);
            if (envelope === undefined) continue;
            await tx.update(secrets).set({ envelope }).where(eq(secrets.name, row.name));
            n++;
          }
          return n;
        });
      },
    }, run),
    auditAnchors: guarded(pgAuditAnchors(db, auditAnchors), run),
    ping: () => run(async () => {
      await db.execute(sql`select 1`);
    }),
    // Once: a pool ended twice throws.
    close: async () => {
      if (!db.$client.ended) await db.$client.end();
    },
  };
}
