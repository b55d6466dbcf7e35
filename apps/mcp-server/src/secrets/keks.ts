import { join, resolve } from 'node:path';
import { z } from 'zod';
import { databaseSettings, key256, loadConfig, postgresConfig, sqlIdentifier } from '@stack/config';
import { loadKeks, type Kek } from '@stack/crypto';
import type { McpStoreSettings } from '../store/index.ts';

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATA_DIR: z.string().min(1).default('./data'),
  MCP_DATABASE_PATH: z.string().min(1).optional(),
  ...databaseSettings(),
  MCP_DATABASE_SCHEMA: sqlIdentifier.default('mcp'),
  KEY_ENCRYPTION_KEY: key256.optional(),
  KEY_ENCRYPTION_KEY_PREVIOUS: z.string().optional(),
});

/** What the secret store needs from the environment. */
export interface SecretsSettings extends McpStoreSettings {
  keks: () => Kek[];
}

/**
 * Reads where the MCP server's store is (MCP_DATABASE_PATH or DATA_DIR/mcp.db; with DATABASE_URL
 * PostgreSQL, schema MCP_DATABASE_SCHEMA) and the
 * key-encryption keys (KEY_ENCRYPTION_KEY first, then the comma-separated
 * KEY_ENCRYPTION_KEY_PREVIOUS) from an environment. Throws ConfigError listing every problem.
 */
export function secretsSettings(env: Record<string, string | undefined>): SecretsSettings {
  const c = loadConfig(schema, env);
  const dataDir = resolve(c.DATA_DIR);
  return {
    databasePath: c.MCP_DATABASE_PATH === ':memory:' ? ':memory:' : resolve(c.MCP_DATABASE_PATH ?? join(dataDir, 'mcp.db')),
    postgres: postgresConfig(c, c.MCP_DATABASE_SCHEMA),
    keks: () => loadKeks({
      key: c.KEY_ENCRYPTION_KEY,
      previous: (c.KEY_ENCRYPTION_KEY_PREVIOUS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      dataDir,
      production: c.NODE_ENV === 'production',
    }),
  };
}
