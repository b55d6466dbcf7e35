import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The PostgreSQL database tests create their schemas in (trust auth on 127.0.0.1 in CI). */
export const TEST_PG_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A pool on the test database with bigint columns read as numbers, as the apps' drizzle reads them. */
export function testPool(schema?: string, url = TEST_PG_URL): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    ...(schema ? { options: `-c search_path=${schema}` } : {}),
    types: { getTypeParser: (oid: number, format?: 'text' | 'binary') => (oid === 20 ? Number : pg.types.getTypeParser(oid, format)) },
  });
  pool.on('error', () => {});
  return pool;
}

/** A fresh, empty schema named `<prefix>_<random>` in the test database, and a drop function. */
export async function freshSchema(prefix: string): Promise<{ schema: string; drop: () => Promise<void> }> {
  const schema = `${prefix}_${randomBytes(8).toString('hex')}`;
  const admin = testPool();
  await admin.query(`create schema ${schema}`);
  return {
    schema,
    drop: async () => {
      await admin.query(`drop schema if exists ${schema} cascade`).finally(() => admin.end());
    },
  };
}
