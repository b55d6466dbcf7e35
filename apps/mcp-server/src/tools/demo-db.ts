import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { seedDemoData } from './seed.ts';

// user_version records that the demo data was created once; dropping every table later does not
// bring the sample data back on restart.
const SEEDED_VERSION = 1;

/** Opens the demo database (read-write, for the fixed statements of the built-in tools), creating and seeding it on first start. */
export function openDemoDb(path: string): Database.Database {
  mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  if (db.pragma('user_version', { simple: true }) === 0) {
    db.transaction(() => {
      seedDemoData(db);
      db.pragma(`user_version = ${SEEDED_VERSION}`);
    })();
  }
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
