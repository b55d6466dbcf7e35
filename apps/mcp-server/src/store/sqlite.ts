import { eq, getTableColumns, sql } from 'drizzle-orm';
import { mcpSchema, openMcpDb, sqliteAuditAnchors } from '@stack/db';
import type { McpStore } from './types.ts';

const { apiKeys, secrets } = mcpSchema;

/** The store in the MCP server's SQLite file (one host; `:memory:` for one process). */
export function openSqliteMcpStore(path: string): McpStore {
  const db = openMcpDb(path);
  return {
    engine: 'sqlite',
    apiKeys: {
      async insert(row) {
        db.insert(apiKeys).values(row).run();
      },
      async get(id) {
        return db.select().from(apiKeys).where(eq(apiKeys.id, id)).get();
      },
      async revoke(id, at) {
        return db.update(apiKeys).set({ revokedAt: at }).where(sql`${apiKeys.id} = ${id} and ${apiKeys.revokedAt} is null`).run().changes > 0;
      },
      async list() {
        const { salt: _s, hash: _h, ...info } = getTableColumns(apiKeys);
        return db.select(info).from(apiKeys).orderBy(apiKeys.createdAt, apiKeys.id).all();
      },
    },
    secrets: {
      async get(name) {
        return db.select().from(secrets).where(eq(secrets.name, name)).get();
      },
      async put(row) {
        const { name: _n, ...values } = row;
        db.insert(secrets).values(row).onConflictDoUpdate({ target: secrets.name, set: values }).run();
      },
      async list() {
        return db.select({ name: secrets.name, updatedAt: secrets.updatedAt }).from(secrets).orderBy(secrets.name).all();
      },
      async delete(name) {
        return db.delete(secrets).where(eq(secrets.name, name)).run().changes > 0;
      },
      async rewrap(next) {
        return db.transaction((tx) => {
          let n = 0;
          for (const row of tx.select().from(secrets).all()) {
            const envelope = next(row);
            if (envelope === undefined) continue;
            tx.update(secrets).set({ envelope }).where(eq(secrets.name, row.name)).run();
            n++;
          }
          return n;
        });
      },
    },
    auditAnchors: sqliteAuditAnchors(db),
    async ping() {
      db.get(sql`select 1`);
    },
    close: async () => {
      db.$client.close();
    },
  };
}
