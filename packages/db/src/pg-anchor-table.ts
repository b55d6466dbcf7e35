import { pgTable, text, bigint, index } from 'drizzle-orm/pg-core';

/**
 * The PostgreSQL audit-anchor table (the SQLite one is in ./audit-anchors.ts), built once for both
 * apps under each app's own name (`audit_anchors`, `mcp_audit_anchors`), so that the two cannot
 * drift apart and one anchor store serves either.
 */
export function pgAnchorTable<N extends string>(name: N) {
  return pgTable(name, {
    chain: text().primaryKey(),
    log: text().notNull(),
    seq: bigint({ mode: 'number' }).notNull(),
    mac: text().notNull(),
    file: text().notNull(),
    at: bigint({ mode: 'number' }).notNull(),
  }, (t) => [index(`${name}_log_idx`).on(t.log, t.at)]);
}

export type PgAnchorTable = ReturnType<typeof pgAnchorTable>;
