import { join, resolve } from 'node:path';
import { z } from 'zod';
import { key256, loadConfig } from '@stack/config';
import { loadKeks, type Kek } from '@stack/crypto';

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  DATA_DIR: z.string().min(1).default('./data'),
  MCP_DATABASE_PATH: z.string().min(1).optional(),
  KEY_ENCRYPTION_KEY: key256.optional(),
  KEY_ENCRYPTION_KEY_PREVIOUS: z.string().optional(),
});

/** What the secret store needs from the environment. */
export interface SecretsSettings {
  databasePath: string;
  keks: () => Kek[];
}

/**
 * Reads the MCP control database path (MCP_DATABASE_PATH or DATA_DIR/mcp.db) and the
 * key-encryption keys (KEY_ENCRYPTION_KEY first, then the comma-separated
 * KEY_ENCRYPTION_KEY_PREVIOUS) from an environment. Throws ConfigError listing every problem.
 */
export function secretsSettings(env: Record<string, string | undefined>): SecretsSettings {
  const c = loadConfig(schema, env);
  const dataDir = resolve(c.DATA_DIR);
  return {
    databasePath: c.MCP_DATABASE_PATH === ':memory:' ? ':memory:' : resolve(c.MCP_DATABASE_PATH ?? join(dataDir, 'mcp.db')),
    keks: () => loadKeks({
      key: c.KEY_ENCRYPTION_KEY,
      previous: (c.KEY_ENCRYPTION_KEY_PREVIOUS ?? '').split(',').map((s) => s.trim()).filter(Boolean),
      dataDir,
      production: c.NODE_ENV === 'production',
    }),
  };
}
