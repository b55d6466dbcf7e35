import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as authSchema from './auth/schema.ts';
import * as mcpSchema from './mcp/schema.ts';

export { authSchema, mcpSchema };

/** Repository root (where `drizzle/` lives), independent of the process's working directory. */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Folder of generated migrations for one database. */
export const migrationsFolder = (name: 'auth-sqlite' | 'auth-pg' | 'mcp-sqlite') => resolve(ROOT, 'drizzle', name);

export type AuthDb = BetterSQLite3Database<typeof authSchema> & { $client: Database.Database };
export type McpDb = BetterSQLite3Database<typeof mcpSchema> & { $client: Database.Database };

function openSqlite(path: string): Database.Database {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
  const sqlite = new Database(path);
  // WAL lets readers proceed during writes; busy_timeout covers the CLI writing while the server runs.
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  // Token and client tables grow to millions of rows: a 64 MiB page cache and memory-mapped reads
  // keep hash lookups in those B-trees from going to the file system on every request.
  sqlite.pragma('cache_size = -65536');
  sqlite.pragma('mmap_size = 268435456');
  return sqlite;
}

/** Opens (creating if needed) the authorization server's SQLite database and applies pending migrations. */
export function openAuthDb(path: string): AuthDb {
  const db = drizzle({ client: openSqlite(path), schema: authSchema, casing: 'snake_case' });
  migrate(db, { migrationsFolder: migrationsFolder('auth-sqlite') });
  return db as AuthDb;
}

/** Opens (creating if needed) the MCP server's control database and applies pending migrations. */
export function openMcpDb(path: string): McpDb {
  const db = drizzle({ client: openSqlite(path), schema: mcpSchema, casing: 'snake_case' });
  migrate(db, { migrationsFolder: migrationsFolder('mcp-sqlite') });
  return db as McpDb;
}
