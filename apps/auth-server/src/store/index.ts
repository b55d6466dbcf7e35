import type { AuthConfig } from '../config.ts';
import type { AvailabilityLog } from '@stack/db/pg';
import type { AuthStore } from './types.ts';

export type * from './types.ts';

// A database outage is logged once per this interval, not once per request.
const UNAVAILABLE_LOG_INTERVAL_MS = 30_000;

/**
 * Opens the configured store: PostgreSQL when DATABASE_URL is set (several instances share it),
 * otherwise the embedded SQLite file. Migrations are applied before this returns.
 */
export async function openStore(config: AuthConfig, log: AvailabilityLog): Promise<AuthStore> {
  const pg = config.postgres;
  if (!pg) {
    const { openSqliteStore } = await import('./sqlite/index.ts');
    return openSqliteStore(config.databasePath);
  }
  const { openPgStore } = await import('./postgres/index.ts');
  return openPgStore({ ...pg, log, logIntervalMs: UNAVAILABLE_LOG_INTERVAL_MS });
}
