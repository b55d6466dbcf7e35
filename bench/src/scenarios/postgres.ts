import { randomBytes } from 'node:crypto';
import * as authConfig from '../../../apps/auth-server/src/config.ts';
import type { SeedSpec } from '../seed/auth-db.ts';
import { wanted, type BenchContext } from './context.ts';
import { startAuthServerPg } from './servers.ts';
import { tokenScenarios } from './tokens.ts';

interface PgTarget {
  url: string;
  schema: string;
  env: Record<string, string>;
}

/**
 * PostgreSQL is measured when BENCH_POSTGRES (or DATABASE_URL) names a database and the
 * authorization server understands DATABASE_URL; otherwise the reason is returned and printed.
 * The run uses a fresh schema of its own (when the server has a schema setting), dropped afterwards.
 */
function postgresTarget(): PgTarget | string {
  const url = process.env.BENCH_POSTGRES ?? process.env.DATABASE_URL;
  if (!url) return 'PostgreSQL not configured: set BENCH_POSTGRES=postgres://… to measure scenario 4 on it too';
  const schema = `bench_${randomBytes(4).toString('hex')}`;
  // Instances on a shared database need a configured key-encryption key (config refuses otherwise).
  const env: Record<string, string> = { DATABASE_URL: url, DATABASE_SCHEMA: schema, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') };
  const config = authConfig.loadAuthConfig({ NODE_ENV: 'test', ...env });
  if (!config.postgres) return 'PostgreSQL skipped: the authorization server ignored DATABASE_URL';
  return { url: config.postgres.url, schema: config.postgres.schema, env };
}

async function dropSchema(t: PgTarget): Promise<void> {
  if (!/^bench_[0-9a-f]{8}$/.test(t.schema)) return; // only ever a schema this run created
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: t.url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${t.schema}" CASCADE`);
  } finally {
    await client.end();
  }
}

/** Scenario 4 on PostgreSQL, or a note saying why not. */
export async function postgresScenarios(c: BenchContext, spec: SeedSpec): Promise<void> {
  if (!wanted(c, 4)) return;
  const t = postgresTarget();
  if (typeof t === 'string') {
    console.log(`  ${t}`);
    c.notes.push(t);
    return;
  }
  const as = await startAuthServerPg(c, 'auth-pg', spec, t);
  try {
    await tokenScenarios(c, as, 'PostgreSQL', '-pg');
  } finally {
    await as.proc.stop();
    await dropSchema(t).catch((err: Error) => console.log(`  could not drop schema ${t.schema}: ${err.message}`));
  }
}
