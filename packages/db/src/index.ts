import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { readMigrationFiles } from 'drizzle-orm/migrator';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as authSchema from './auth/schema.ts';
import * as mcpSchema from './mcp/schema.ts';
import { ensurePrivateFile } from '@stack/crypto';

export { authSchema, mcpSchema };
export { sqliteAuditAnchors } from './audit-anchors.ts';

/** Repository root (where `drizzle/` lives), independent of the process's working directory. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Folder of generated migrations for one database. */
export const migrationsFolder = (name: 'auth-sqlite' | 'auth-pg' | 'mcp-sqlite' | 'mcp-pg') => resolve(ROOT, 'drizzle', name);

export type AuthDb = BetterSQLite3Database<typeof authSchema> & { $client: Database.Database };
export type McpDb = BetterSQLite3Database<typeof mcpSchema> & { $client: Database.Database };

/**
 * Switches a file to write-ahead logging. The switch needs an exclusive lock, and SQLite answers
 * SQLITE_BUSY at once, without waiting through the busy timeout, where waiting could deadlock (this
 * connection already reads while another one waits to write): processes opening one fresh file
 * together, or while another closes it, hit that. So retry, for at most `timeoutMs`.
 */
export function enableWal(sqlite: Database.Database, timeoutMs = 5000): void {
  const deadline = Date.now() + timeoutMs;
  for (let pause = 5; ; pause = Math.min(pause * 2, 100)) {
    try {
      sqlite.pragma('journal_mode = WAL');
      return;
    } catch (err) {
      if (!(err instanceof Database.SqliteError && err.code.startsWith('SQLITE_BUSY')) || Date.now() >= deadline) throw err;
      // A synchronous pause: opening a database is synchronous all the way up.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, pause);
    }
  }
}

function openSqlite(path: string): Database.Database {
  // Created 0600 (in a 0700 directory) before SQLite opens it: SQLite gives its -wal and -shm files the same mode.
  if (path !== ':memory:') ensurePrivateFile(path);
  // The busy timeout is set at open, before the first statement: several processes may open a fresh
  // file at once (two instances, the CLI), and switching it to WAL takes a lock too.
  const sqlite = new Database(path, { timeout: 5000 });
  // WAL lets readers proceed during writes; busy_timeout covers the CLI writing while the server runs.
  enableWal(sqlite);
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  // Token and client tables grow to millions of rows: a 64 MiB page cache and memory-mapped reads
  // keep hash lookups in those B-trees from going to the file system on every request.
  sqlite.pragma('cache_size = -65536');
  sqlite.pragma('mmap_size = 268435456');
  return sqlite;
}

const MIGRATIONS_TABLE = '__drizzle_migrations';

/**
 * Applies the pending migrations in one exclusive transaction, checking what is applied inside it.
 * Drizzle's own SQLite migrator reads the last applied migration before its (deferred) transaction,
 * so two processes starting on one fresh file both ran the first migration and one died with
 * "table … already exists". Here the second waits for the lock (busy timeout) and then finds
 * nothing left to do. Same bookkeeping table and rules as drizzle's, so existing files carry on.
 */
export function migrateSqlite(sqlite: Database.Database, folder: string): void {
  const migrations = readMigrationFiles({ migrationsFolder: folder });
  sqlite.exec('BEGIN EXCLUSIVE');
  try {
    sqlite.exec(`CREATE TABLE IF NOT EXISTS "${MIGRATIONS_TABLE}" (id SERIAL PRIMARY KEY, hash text NOT NULL, created_at numeric)`);
    const last = sqlite.prepare(`SELECT created_at FROM "${MIGRATIONS_TABLE}" ORDER BY created_at DESC LIMIT 1`).pluck().get() as number | string | undefined;
    const record = sqlite.prepare(`INSERT INTO "${MIGRATIONS_TABLE}" ("hash", "created_at") VALUES (?, ?)`);
    for (const m of migrations) {
      if (last !== undefined && Number(last) >= m.folderMillis) continue;
      for (const stmt of m.sql) sqlite.exec(stmt);
      record.run(m.hash, m.folderMillis);
    }
    sqlite.exec('COMMIT');
  } catch (err) {
    if (sqlite.inTransaction) sqlite.exec('ROLLBACK');
    throw err;
  }
}

/** Opens (creating if needed) the authorization server's SQLite database and applies pending migrations. */
export function openAuthDb(path: string): AuthDb {
  const client = openSqlite(path);
  migrateSqlite(client, migrationsFolder('auth-sqlite'));
  return drizzle({ client, schema: authSchema, casing: 'snake_case' });
}

/** Opens (creating if needed) the MCP server's control database and applies pending migrations. */
export function openMcpDb(path: string): McpDb {
  const client = openSqlite(path);
  migrateSqlite(client, migrationsFolder('mcp-sqlite'));
  return drizzle({ client, schema: mcpSchema, casing: 'snake_case' });
}
