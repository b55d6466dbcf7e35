import { desc, eq, sql } from 'drizzle-orm';
import { authSchema, type AuthDb } from '@stack/db';
import type { AuditAnchorStore } from '@stack/audit';

const { auditAnchors } = authSchema;

export function sqliteAuditAnchors(db: AuthDb): AuditAnchorStore {
  return {
    async latest(chain) {
      return db.select().from(auditAnchors).where(eq(auditAnchors.chain, chain)).get();
    },
    async latestForLog(log) {
      return db.select().from(auditAnchors).where(eq(auditAnchors.log, log)).orderBy(desc(auditAnchors.at), desc(auditAnchors.seq)).limit(1).get();
    },
    async save(a) {
      // Moved forward only: the server and the admin CLI anchor the same chain, in any order.
      const { chain: _c, ...values } = a;
      db.insert(auditAnchors).values(a)
        .onConflictDoUpdate({ target: auditAnchors.chain, set: values, setWhere: sql`excluded.seq > ${auditAnchors.seq}` }).run();
    },
  };
}
