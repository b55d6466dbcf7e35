import Database from 'better-sqlite3';
import { ensurePrivateFile } from '@stack/crypto';
import { enableWal } from '@stack/db';
import { seedDemoData } from './seed.ts';

// user_version records that the demo data was created once; dropping every table later does not
// bring the sample data back on restart.
const SEEDED_VERSION = 1;

/**
 * Seeds the demo data unless it was seeded before; returns whether this call did. The check and
 * the seeding are one exclusive transaction: instances starting together on one file take turns,
 * and the later ones find user_version already set (checked outside, both saw 0 and the second
 * died on "table users already exists").
 */
export function seedOnce(db: Database.Database): boolean {
  db.exec('BEGIN EXCLUSIVE');
  try {
    const seeded = db.pragma('user_version', { simple: true }) !== 0;
    if (!seeded) {
      seedDemoData(db);
      db.pragma(`user_version = ${SEEDED_VERSION}`);
    }
    db.exec('COMMIT');
    return !seeded;
  } catch (err) {
    if (db.inTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

/** Opens the demo database (read-write, for the fixed statements of the built-in tools), creating and seeding it on first start. */
export function openDemoDb(path: string): Database.Database {
  // 0600 before SQLite opens it, so its -wal and -shm files are private too.
  if (path !== ':memory:') ensurePrivateFile(path);
  // The busy timeout is set at open: a second instance waits for the first one's seeding.
  const db = new Database(path, { timeout: 5000 });
  enableWal(db);
  db.pragma('foreign_keys = ON');
  seedOnce(db);
  return db;
}

/** Names of the user tables (SQLite's internal sqlite_* tables excluded), sorted. */
export function listTableNames(db: Database.Database): string[] {
  const rows = db
    .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
    .pluck()
    .all() as string[];
  return rows;
}

/** Quotes an identifier for SQLite. Only ever applied to names read back from sqlite_master. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
