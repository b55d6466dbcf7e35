import pg from 'pg';
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import * as pgAuthSchema from './auth/pg-schema.ts';
import * as pgMcpSchema from './mcp/pg-schema.ts';
import { migrationsFolder } from './index.ts';

export { pgAuthSchema, pgMcpSchema };
export { pgAuditAnchors } from './audit-anchors.ts';
export { availabilityGuard, guarded, isUnavailable, RETRY_AFTER_SECONDS, type AvailabilityLog } from './pg-availability.ts';

export type PgAuthDb = NodePgDatabase<typeof pgAuthSchema> & { $client: pg.Pool };
export type PgMcpDb = NodePgDatabase<typeof pgMcpSchema> & { $client: pg.Pool };

export interface PgOptions {
  /** postgres:// or postgresql:// URL. */
  url: string;
  /** Schema holding the tables (and the migrations journal); created if missing. */
  schema: string;
  /** Pool size (connections per process). */
  maxConnections: number;
  /** How long a query waits for a free connection or a new one before failing. */
  connectTimeoutMs: number;
  /** Server-side limit per statement, so a stuck query cannot hold a connection forever. */
  statementTimeoutMs: number;
}

const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/** Which app's tables: its migrations, journal table and lock, so both apps can share a database (even a schema). */
const APPS = {
  'auth-server': { folder: 'auth-pg', table: '__drizzle_migrations' },
  'mcp-server': { folder: 'mcp-pg', table: '__drizzle_migrations_mcp' },
} as const;

/**
 * Opens a pool on the authorization server's PostgreSQL database and applies pending migrations.
 * Several instances may start at once: migrations run under a session advisory lock per schema,
 * so one applies them and the others then find nothing left to do.
 */
export async function openAuthPg(o: PgOptions): Promise<PgAuthDb> {
  const pool = await openPool(o, 'auth-server');
  return drizzle({ client: pool, schema: pgAuthSchema, casing: 'snake_case' });
}

/** Opens a pool on the MCP server's PostgreSQL database (its `mcp_` tables) and applies pending migrations, as openAuthPg. */
export async function openMcpPg(o: PgOptions): Promise<PgMcpDb> {
  const pool = await openPool(o, 'mcp-server');
  return drizzle({ client: pool, schema: pgMcpSchema, casing: 'snake_case' });
}

async function openPool(o: PgOptions, app: keyof typeof APPS): Promise<pg.Pool> {
  if (!IDENT.test(o.schema)) throw new TypeError('schema must be a lowercase SQL identifier');
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.maxConnections,
    connectionTimeoutMillis: o.connectTimeoutMs,
    idleTimeoutMillis: 30_000,
    statement_timeout: o.statementTimeoutMs,
    options: `-c search_path=${o.schema}`,
    application_name: app,
  });
  // An idle connection the server drops (restart, pg_terminate_backend) is reported here; without a
  // listener it would crash the process. The pool replaces it on the next query.
  pool.on('error', () => {});
  try {
    await migrateLocked(pool, o.schema, app);
  } catch (err) {
    await pool.end().catch(() => {});
    throw err;
  }
  return pool;
}

async function migrateLocked(pool: pg.Pool, schema: string, app: keyof typeof APPS): Promise<void> {
  const { folder, table } = APPS[app];
  const lock = `${app}-migrate:${schema}`;
  const client = await pool.connect();
  try {
    await client.query('select pg_advisory_lock(hashtext($1))', [lock]);
    try {
      await client.query(`create schema if not exists "${schema}"`);
      const db = drizzle({ client, casing: 'snake_case' });
      await migrate(db, { migrationsFolder: migrationsFolder(folder), migrationsSchema: schema, migrationsTable: table });
    } finally {
      await client.query('select pg_advisory_unlock(hashtext($1))', [lock]);
    }
  } finally {
    client.release();
  }
}
