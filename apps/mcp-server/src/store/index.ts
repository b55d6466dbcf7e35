import type { AvailabilityLog, PgOptions } from '@stack/db/pg';
import type { McpStore } from './types.ts';

export type * from './types.ts';

/** Where the store is: a SQLite file, or PostgreSQL when DATABASE_URL is set (then the path is unused). */
export interface McpStoreSettings {
  databasePath: string;
  postgres?: PgOptions | undefined;
}

/** Opens the configured store, applying pending migrations before it returns; `log` hears of PostgreSQL outages. */
export async function openMcpStore(s: McpStoreSettings, log?: AvailabilityLog): Promise<McpStore> {
  if (s.postgres) {
    const { openPgMcpStore } = await import('./postgres.ts');
    return openPgMcpStore(s.postgres, log);
  }
  const { openSqliteMcpStore } = await import('./sqlite.ts');
  return openSqliteMcpStore(s.databasePath);
}
