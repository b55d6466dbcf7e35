import type Database from 'better-sqlite3';
import { statSync } from 'node:fs';

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

/** A write refused before it started: the write-ahead log could not be emptied (see ensureWalRoom). */
export class WalFull extends Error {}

// How long a write waits for long-running queries before the log is declared full.
const CHECKPOINT_WAIT_MS = 250;

/**
 * Committed writes stay in the write-ahead log until a checkpoint copies them into the database,
 * and a checkpoint cannot pass a snapshot that a running query still reads. Queries that overlap
 * without a gap would let the log grow past any quota, one write after another: once it holds
 * more than `maxBytes`, a write first waits briefly for a full checkpoint (which truncates it) and
 * is refused if the log is still that large.
 */
export function ensureWalRoom(db: Database.Database, databasePath: string, maxBytes: number): void {
  const walBytes = () => { try { return statSync(`${databasePath}-wal`).size; } catch { return 0; } };
  if (walBytes() <= maxBytes) return;
  const busy = db.pragma('busy_timeout', { simple: true }) as number;
  db.pragma(`busy_timeout = ${CHECKPOINT_WAIT_MS}`);
  try {
    db.pragma('wal_checkpoint(TRUNCATE)');
  } catch {
    // Busy: the size check below decides.
  } finally {
    db.pragma(`busy_timeout = ${busy}`);
  }
  if (walBytes() > maxBytes) throw new WalFull();
}

/** The tool error for a write refused because the write-ahead log is still full. */
export function walFullMessage(maxBytes: number): string {
  return `the demo database is full (quota ${formatMiB(maxBytes)}): its write-ahead log is waiting for long-running queries ` +
    'to finish; nothing was changed, try again shortly';
}

/** The tool error for a write that would pass the quota. */
export function diskFullMessage(maxBytes: number): string {
  return `the demo database is full (quota ${formatMiB(maxBytes)}): the statement was rolled back and changed nothing; ` +
    'delete rows or ask an admin to drop tables to make room';
}
