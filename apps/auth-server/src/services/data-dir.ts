import { privateModeWarnings, sqliteFiles } from '@stack/crypto';
import type { AuthConfig } from '../config.ts';

/**
 * Warnings for the data directory and the files of this server (SQLite database and its -wal/-shm,
 * the development KEK in it, the audit log) that exist with a mode open to other users. Files the
 * server creates are 0600 in a 0700 directory; existing ones are reported, not changed.
 */
export function dataDirWarnings(config: AuthConfig): string[] {
  return privateModeWarnings([
    config.dataDir,
    ...(config.postgres || config.databasePath === ':memory:' ? [] : sqliteFiles(config.databasePath)),
    ...(config.auditLog ? [config.auditLog] : []),
  ]);
}
