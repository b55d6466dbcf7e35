import { privateModeWarnings, sqliteFiles } from '@stack/crypto';
import type { McpConfig } from './config.ts';

/**
 * Warnings for the data directory and the files of this server (control and demo databases with
 * their -wal/-shm, the development KEK in it, the audit log) that exist with a mode open to other
 * users. Files the server creates are 0600 in a 0700 directory; existing ones are reported, not changed.
 */
export function dataDirWarnings(config: McpConfig): string[] {
  // With DATABASE_URL the app's state is in PostgreSQL: only the demo database is a file here.
  const databases = [...(config.postgres ? [] : [config.databasePath]), config.demoDatabasePath].filter((p) => p !== ':memory:');
  return privateModeWarnings([config.dataDir, ...databases.flatMap(sqliteFiles), ...(config.auditLog ? [config.auditLog] : [])]);
}
