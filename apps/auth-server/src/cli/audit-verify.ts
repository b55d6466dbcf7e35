import { existsSync } from 'node:fs';
import { deriveAuditKeys, type VerifyOptions } from '@stack/audit';
import { CliFailure, type CliIo } from '@stack/cli';
import { loadAuthConfig } from '../config.ts';
import { resolveKeks } from '../services/kek.ts';
import { openStore } from '../store/index.ts';

/**
 * What `audit verify` needs for the authorization server's log: the audit keys derived from the
 * KEKs (current and previous) and the anchors in its database (SQLite file or DATABASE_URL).
 */
export async function authVerifyOptions(io: CliIo): Promise<VerifyOptions & { close(): Promise<void> }> {
  const config = loadAuthConfig(io.env);
  if (!config.postgres && (config.databasePath === ':memory:' || !existsSync(config.databasePath))) {
    throw new CliFailure(`the authorization server's database ${config.databasePath} does not exist: its anchors are needed to verify the log (set DATA_DIR or AUTH_DATABASE_PATH)`);
  }
  const store = await openStore(config, { unavailable: () => {}, recovered: () => {} });
  return { keys: deriveAuditKeys(resolveKeks(config)), anchors: store.auditAnchors, close: () => store.close() };
}
