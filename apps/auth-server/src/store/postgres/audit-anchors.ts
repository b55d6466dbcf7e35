import { desc, eq, sql } from 'drizzle-orm';
import { pgAuthSchema, type PgAuthDb } from '@stack/db/pg';
import type { AuditAnchorStore } from '@stack/audit';

const { auditAnchors } = pgAuthSchema;

export function pgAuditAnchors(db: PgAuthDb): AuditAnchorStore {
  return {
    async latest(chain) {
      return (await db.select().from(auditAnchors).where(eq(auditAnchors.chain, chain)).limit(1))[0];
    },
    async latestForLog(log) {
      return (await db.select().from(auditAnchors).where(eq(auditAnchors.log, log)).orderBy(desc(auditAnchors.at), desc(auditAnchors.seq)).limit(1))[0];
    },
    async save(a) {
      // Moved forward only: the server and the admin CLI anchor the same chain, in any order.
      const { chain: _c, ...values } = a;
      await db.insert(auditAnchors).values(a)
        .onConflictDoUpdate({ target: auditAnchors.chain, set: values, setWhere: sql`excluded.seq > ${auditAnchors.seq}` });
    },
  };
}
