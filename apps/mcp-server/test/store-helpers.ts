import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freshSchema, TEST_PG_URL, testPool } from '../../../test/helpers/postgres.ts';
import { openMcpStore, type McpStore } from '../src/store/index.ts';
import { loadMcpConfig } from '../src/config.ts';

/** Which engine the MCP app's store-touching tests run on: TEST_MCP_DB=postgres (project mcp-postgres), else SQLite. */
export const TEST_MCP_DB: 'sqlite' | 'postgres' = process.env.TEST_MCP_DB === 'postgres' ? 'postgres' : 'sqlite';
export { TEST_PG_URL, testPool };

/** A fresh, empty schema for the MCP app's tables: its settings and a drop function. */
export async function createMcpTestSchema(): Promise<{ env: Record<string, string>; schema: string; drop: () => Promise<void> }> {
  const { schema, drop } = await freshSchema('m');
  return {
    schema,
    // One key per schema: instances sharing a database must share the key-encryption key.
    env: { DATABASE_URL: TEST_PG_URL, MCP_DATABASE_SCHEMA: schema, KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64') },
    drop,
  };
}

/** A fresh store for a test: its settings (for servers and CLIs), the store itself and close. */
export interface TestMcpStore {
  /** A temporary DATA_DIR (the SQLite file, the audit log), removed on close. */
  dir: string;
  /** Points a server or CLI at this store: MCP_DATABASE_PATH, or DATABASE_URL, MCP_DATABASE_SCHEMA and KEY_ENCRYPTION_KEY. */
  env: Record<string, string>;
  store: McpStore;
  close(): Promise<void>;
}

/**
 * Opens a fresh store: a SQLite file in a temporary folder, or with TEST_MCP_DB=postgres (or
 * `engine`) a schema of its own in the test database, dropped on close. `extra` settings (a test's
 * KEY_ENCRYPTION_KEY) win over the defaults.
 */
export async function openTestMcpStore(extra: Record<string, string> = {}, engine = TEST_MCP_DB): Promise<TestMcpStore> {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-store-'));
  const schema = engine === 'postgres' ? await createMcpTestSchema() : undefined;
  const env = { ...(schema?.env ?? { MCP_DATABASE_PATH: join(dir, 'mcp.db') }), ...extra };
  const store = await openMcpStore(loadMcpConfig({ NODE_ENV: 'test', DATA_DIR: dir, ...env })).catch(async (err: unknown) => {
    await schema?.drop();
    throw err;
  });
  return {
    dir,
    env,
    store,
    close: async () => {
      await store.close();
      await schema?.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
