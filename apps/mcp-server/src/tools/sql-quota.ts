import type Database from 'better-sqlite3';

const MiB = 1024 * 1024;
// After a checkpoint the write-ahead log is cut back to this size instead of keeping its peak.
const JOURNAL_SIZE_LIMIT = 8 * MiB;
// Checkpoint every 1000 pages (SQLite's default, stated so it cannot drift): the log of committed
// writes stays near 4 MiB; one transaction's own pages (at most the quota) are the exception.
const WAL_AUTOCHECKPOINT_PAGES = 1000;

/** "256 MiB", "1.5 MiB". */
export const formatMiB = (bytes: number) => `${Number((bytes / MiB).toFixed(1))} MiB`;

/**
 * Bounds the demo database file on this connection: max_page_count makes a write that would grow
 * the file past `maxBytes` fail with SQLITE_FULL (and its transaction roll back). The pragma is
 * per connection, so every connection that can write must apply it. A file already larger than
 * the quota keeps its size (SQLite never lowers the limit below the current page count) and
 * cannot grow.
 */
export function applyDiskQuota(db: Database.Database, maxBytes: number): void {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  db.pragma(`max_page_count = ${Math.max(1, Math.floor(maxBytes / pageSize))}`);
  db.pragma(`journal_size_limit = ${Math.min(JOURNAL_SIZE_LIMIT, maxBytes)}`);
  db.pragma(`wal_autocheckpoint = ${WAL_AUTOCHECKPOINT_PAGES}`);
}

/** The tool error for a write that would pass the quota. */
export function diskFullMessage(maxBytes: number): string {
  return `the demo database is full (quota ${formatMiB(maxBytes)}): the statement was rolled back and changed nothing; ` +
    'delete rows or ask an admin to drop tables to make room';
}
