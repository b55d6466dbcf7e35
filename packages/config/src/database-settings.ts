import { z } from 'zod';

const positiveInt = z.coerce.number().int().positive();

/** A schema name as PostgreSQL takes it unquoted (and as @stack/db/pg checks it). */
export const sqlIdentifier = z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be a lowercase SQL identifier');

/**
 * The PostgreSQL connection, read by both apps under the same names (spread into each app's
 * schema): one DATABASE_URL can hold both apps' tables, each app in its own schema.
 */
export const databaseSettings = () => ({
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres:// or postgresql:// URL').optional(),
  DATABASE_POOL_MAX: positiveInt.max(100).default(10),
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt.max(60_000).default(5000),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.max(300_000).default(15_000),
});

interface DatabaseInput {
  DATABASE_URL?: string | undefined;
  DATABASE_POOL_MAX: number;
  DATABASE_CONNECT_TIMEOUT_MS: number;
  DATABASE_STATEMENT_TIMEOUT_MS: number;
}

/** The pool's options when DATABASE_URL is set (the app's tables in `schema`), else undefined. */
export function postgresConfig(c: DatabaseInput, schema: string) {
  return c.DATABASE_URL === undefined ? undefined : {
    url: c.DATABASE_URL,
    schema,
    maxConnections: c.DATABASE_POOL_MAX,
    connectTimeoutMs: c.DATABASE_CONNECT_TIMEOUT_MS,
    statementTimeoutMs: c.DATABASE_STATEMENT_TIMEOUT_MS,
  };
}
