import { desc, eq, sql } from 'drizzle-orm';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import { sqliteTable, text, integer, index } from 'drizzle-orm/sqlite-core';
import type { PgAnchorTable } from './pg-anchor-table.ts';

/**
 * Where each audit chain stood when last anchored (one row per chain, moved forward only): the
 * audit log is checked against it at start and by `audit verify`, which shows lines cut off the
 * end or a file replaced. Kept in the app's database, apart from the log, so editing the log alone
 * cannot hide it. The same table in the auth server's and the MCP server's SQLite databases.
 */
export const auditAnchors = sqliteTable('audit_anchors', {
  chain: text().primaryKey(),
  /** The log's name: its configured path (host:path when several hosts share the database). */
  log: text().notNull(),
  seq: integer().notNull(),
  /** MAC of the line at `seq`. */
  mac: text().notNull(),
  file: text().notNull(),
  at: integer().notNull(),
}, (t) => [index('audit_anchors_log_idx').on(t.log, t.at)]);

export type AuditAnchorRow = typeof auditAnchors.$inferSelect;

/** The anchors of a SQLite database holding `audit_anchors` (the shape @stack/audit's AuditAnchorStore asks for). */
export function sqliteAuditAnchors(db: BetterSQLite3Database<Record<string, unknown>>) {
  return {
    async latest(chain: string): Promise<AuditAnchorRow | undefined> {
      return db.select().from(auditAnchors).where(eq(auditAnchors.chain, chain)).get();
    },
    async latestForLog(log: string): Promise<AuditAnchorRow | undefined> {
      return db.select().from(auditAnchors).where(eq(auditAnchors.log, log)).orderBy(desc(auditAnchors.at), desc(auditAnchors.seq)).limit(1).get();
    },
    async save(a: AuditAnchorRow): Promise<void> {
      // Moved forward only: the server and the admin CLI anchor the same chain, in any order.
      const { chain: _c, ...values } = a;
      db.insert(auditAnchors).values(a)
        .onConflictDoUpdate({ target: auditAnchors.chain, set: values, setWhere: sql`excluded.seq > ${auditAnchors.seq}` }).run();
    },
  };
}

/** The anchors of a PostgreSQL database, in `t` (the shape @stack/audit's AuditAnchorStore asks for). */
export function pgAuditAnchors(db: NodePgDatabase<Record<string, unknown>>, t: PgAnchorTable) {
  return {
    async latest(chain: string): Promise<AuditAnchorRow | undefined> {
      return (await db.select().from(t).where(eq(t.chain, chain)).limit(1))[0];
    },
    async latestForLog(log: string): Promise<AuditAnchorRow | undefined> {
      return (await db.select().from(t).where(eq(t.log, log)).orderBy(desc(t.at), desc(t.seq)).limit(1))[0];
    },
    async save(a: AuditAnchorRow): Promise<void> {
      // Moved forward only, as in SQLite.
      const { chain: _c, ...values } = a;
      await db.insert(t).values(a).onConflictDoUpdate({ target: t.chain, set: values, setWhere: sql`excluded.seq > ${t.seq}` });
    },
  };
}
