import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import Database from 'better-sqlite3';
import { generateKeyPair } from 'jose';
import { AuditLog, deriveAuditKeys } from '@stack/audit';
import { buildApp, type BuildOptions } from '../src/app.ts';
import { loadAuthConfig, type AuthConfig } from '../src/config.ts';
import { openStore, type AuthStore } from '../src/store/index.ts';
import type { KeyPairSource } from '../src/services/keys.ts';

import { freePort, freePorts } from '../../../test/helpers/ports.ts';
import { freshSchema, TEST_PG_URL, testPool } from '../../../test/helpers/postgres.ts';
import { IN_PROCESS, holdPort, routeFetch } from '../../../test/helpers/inject-fetch.ts';

/**
 * RSA key pairs for the test servers' signing keys: the first few are generated, then handed out in
 * turn. Every key still gets its own kid and envelope; only the key material repeats, which spares
 * ~150 ms of CPU per server start. Keys are told apart by kid everywhere (JWKS, tokens, rotation).
 */
const KEY_PAIRS = 4;
const keyPairs: Promise<CryptoKeyPair>[] = [];
let nextKeyPair = 0;
export const testKeyPair: KeyPairSource = () => {
  if (keyPairs.length < KEY_PAIRS) keyPairs.push(generateKeyPair('RS256', { modulusLength: 2048, extractable: true }));
  return keyPairs[nextKeyPair++ % keyPairs.length]!;
};

/** The test servers' audit logs are keyed with a fixed test key (the apps derive theirs from the KEK). */
export const TEST_AUDIT_KEYS = deriveAuditKeys([{ id: 'test-kek', key: Buffer.alloc(32, 7) }]);

export { freePort, freePorts };

/** Which engine the auth server's tests run on: TEST_AUTH_DB=postgres, else SQLite. */
export const TEST_DB: 'sqlite' | 'postgres' = process.env.TEST_AUTH_DB === 'postgres' ? 'postgres' : 'sqlite';
export { TEST_PG_URL, testPool };

/** A fresh, empty schema in the test database: its settings (DATABASE_URL, DATABASE_SCHEMA) and a drop function. */
export async function createTestSchema(): Promise<{ env: Record<string, string>; schema: string; drop: () => Promise<void> }> {
  const { schema, drop } = await freshSchema('t');
  return {
    schema,
    // One key per schema: instances sharing a database must share the key-encryption key.
    env: { DATABASE_URL: TEST_PG_URL, DATABASE_SCHEMA: schema, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') },
    drop,
  };
}

/** Runs raw SQL with `?` placeholders on either engine, through a connection of its own. */
export type RawSql = <T = Record<string, unknown>>(query: string, ...params: unknown[]) => Promise<T[]>;

function rawSql(config: AuthConfig): { sql: RawSql; close: () => Promise<void> } {
  if (config.postgres) {
    const pool = testPool(config.postgres.schema, config.postgres.url);
    return {
      sql: async <T,>(query: string, ...params: unknown[]) => {
        let n = 0;
        return (await pool.query(query.replace(/\?/g, () => `$${++n}`), params)).rows as T[];
      },
      close: () => pool.end(),
    };
  }
  let db: Database.Database | undefined;
  return {
    sql: async <T,>(query: string, ...params: unknown[]) => {
      db ??= new Database(config.databasePath);
      const stmt = db.prepare(query);
      return (stmt.reader ? stmt.all(...params) : (stmt.run(...params), [])) as T[];
    },
    close: async () => {
      db?.close();
    },
  };
}

/** A database for tests that run without a server (the admin CLI): settings, the store and raw SQL. */
export interface TestDatabase {
  /** The temporary DATA_DIR (the audit log and, on SQLite, the database file); removed on close. */
  dir: string;
  /** Settings that point the CLI (in-process or spawned) at this database. */
  env: Record<string, string>;
  store: AuthStore;
  sql: RawSql;
  close: () => Promise<void>;
}

/** Opens a fresh database in a temporary DATA_DIR (SQLite) or a fresh schema (TEST_AUTH_DB=postgres). */
export async function openTestDatabase(): Promise<TestDatabase> {
  const dir = mkdtempSync(join(tmpdir(), 'auth-cli-'));
  const schema = TEST_DB === 'postgres' ? await createTestSchema() : undefined;
  const env = { DATA_DIR: dir, ...schema?.env };
  const config = loadAuthConfig({ NODE_ENV: 'test', ...env });
  const store = await openStore(config, { unavailable: () => {}, recovered: () => {} });
  const raw = rawSql(config);
  return {
    dir,
    env,
    store,
    sql: raw.sql,
    close: async () => {
      await store.close();
      await raw.close();
      await schema?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestAuthServer {
  app: FastifyInstance;
  config: AuthConfig;
  /** Raw SQL on the server's database (SQLite file or PostgreSQL schema), for assertions and setup. */
  sql: RawSql;
  /** Settings that point another process (the admin CLI, a second instance) at the same database. */
  dbEnv: Record<string, string>;
  /** Issuer / base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  dataDir: string;
  /** Audit lines written during the test (parsed). */
  auditEvents: () => Record<string, unknown>[];
  close: () => Promise<void>;
  [Symbol.asyncDispose]: () => Promise<void>;
}

/**
 * Starts an auth server for `url` (http://127.0.0.1:PORT) with a fresh temporary data directory and
 * database: a SQLite file, or with TEST_AUTH_DB=postgres a schema of its own in the test database,
 * dropped on close. In the integration project (TEST_HTTP=inject) fetch() reaches it in-process
 * through app.inject(); elsewhere it listens on the port. `env` overrides settings by their
 * environment names; with DATABASE_URL in `env` the caller owns that database.
 */
export async function startAuthServer(env: Record<string, string> = {}, opts: BuildOptions = {}): Promise<TestAuthServer> {
  const held = IN_PROCESS ? await holdPort(env.AUTH_PORT ? Number(env.AUTH_PORT) : 0) : undefined;
  const port = held?.port ?? (env.AUTH_PORT ? Number(env.AUTH_PORT) : await freePort());
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-test-'));
  const schema = TEST_DB === 'postgres' && env.DATABASE_URL === undefined ? await createTestSchema() : undefined;
  env = { ...schema?.env, ...env };
  const url = `http://127.0.0.1:${port}`;
  const config = loadAuthConfig({
    NODE_ENV: 'test',
    AUTH_ISSUER: url,
    AUTH_HOST: '127.0.0.1',
    AUTH_PORT: String(port),
    DATA_DIR: dataDir,
    MCP_PUBLIC_ORIGIN: 'http://127.0.0.1:4999',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const audit = await AuditLog.open({ keys: TEST_AUDIT_KEYS, file: join(dataDir, 'audit.log') }, 10_000);
  const app = await buildApp(config, { audit, keyPair: testKeyPair, ...opts }).catch(async (err: unknown) => {
    await held?.release();
    await schema?.drop();
    throw err;
  });
  const unroute = held ? routeFetch(url, app) : undefined;
  // ready() runs the onReady hooks as listen() would (the wait for Redis among them).
  if (unroute) await app.ready();
  else await app.listen({ host: '127.0.0.1', port });
  const raw = rawSql(config);
  const close = async () => {
    unroute?.();
    await app.close();
    await held?.release();
    await raw.close();
    await schema?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  const dbEnv: Record<string, string> = config.postgres
    ? { DATABASE_URL: config.postgres.url, DATABASE_SCHEMA: config.postgres.schema, KEY_ENCRYPTION_KEY: config.keyEncryptionKey!.toString('base64') }
    : { AUTH_DATABASE_PATH: config.databasePath };
  return {
    app,
    config,
    sql: raw.sql,
    dbEnv,
    url,
    dataDir,
    auditEvents: () => audit.lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** The app's log lines at `level` and above, parsed (the tests' servers log nothing otherwise): pass `logger` to startAuthServer. */
export function capturedLog(level: 'info' | 'warn' | 'error'): { logger: object; lines: () => Record<string, unknown>[] } {
  const lines: string[] = [];
  const stream = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done(); } });
  return { logger: { level, stream }, lines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}
