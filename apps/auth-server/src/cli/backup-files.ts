import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, createReadStream, existsSync, readdirSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { CliIo } from '@stack/cli';
import { ensurePrivateFile, PRIVATE_FILE_MODE } from '@stack/crypto';
import { loadAuthConfig, type AuthConfig } from '../config.ts';
import { loadMcpConfig } from '@stack/mcp-server/config';

/** The backup's table of contents: restore refuses a backup whose files do not match it. */
export const MANIFEST = 'manifest.json';
export interface ManifestEntry { name: string; bytes: number; sha256: string }
export interface Manifest { format: 1; created: string; files: ManifestEntry[] }

/** One file of the stack in a backup: its name there and where the apps keep it. */
export interface StackFile { name: string; path: string; kind: 'database' | 'audit' }

/**
 * Where the stack keeps what a backup holds (DATA_DIR by default, or the *_DATABASE_PATH and
 * AUDIT_LOG / MCP_AUDIT_LOG settings): the SQLite databases, and each audit log with its rotated
 * and set-aside segments (`<stem>.<tag>.log`, written by packages/audit). The KEK is not part of it.
 */
export function stackLayout(env: CliIo['env']): { auth: AuthConfig; dataDir: string; databases: StackFile[]; logs: string[] } {
  const auth = loadAuthConfig(env);
  const mcp = loadMcpConfig(env);
  const databases = [
    ...(auth.postgres ? [] : [{ name: 'auth.db', path: auth.databasePath }]),
    ...(mcp.postgres ? [] : [{ name: 'mcp.db', path: mcp.databasePath }]),
    { name: 'demo.db', path: mcp.demoDatabasePath },
  ].filter((d) => d.path !== ':memory:').map((d) => ({ ...d, kind: 'database' as const }));
  const logs = [auth.auditLog, mcp.auditLog].filter((l): l is string => l !== undefined);
  if (new Set(logs.map((l) => basename(l))).size !== logs.length) throw new Error('AUDIT_LOG and MCP_AUDIT_LOG have the same file name: a backup could not tell them apart');
  return { auth, dataDir: auth.dataDir, databases, logs };
}

/** The audit log's segment `name` belongs to, if any. */
export function logOf(logs: string[], name: string): string | undefined {
  return logs.find((log) => {
    const ext = extname(log);
    const stem = basename(log, ext);
    return name === basename(log) || (name.startsWith(`${stem}.`) && name.endsWith(ext) && name.length > stem.length + ext.length + 1);
  });
}

/** Every file of an audit log's chains: the current file and the segments next to it. */
export function auditFiles(log: string): StackFile[] {
  if (!existsSync(dirname(log))) return [];
  return readdirSync(dirname(log)).filter((f) => logOf([log], f) === log).sort()
    .map((name) => ({ name, path: join(dirname(log), name), kind: 'audit' as const }));
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Copies a file into place readable by this user only (copyFile would carry the source's mode over). */
export function copyPrivate(from: string, to: string): void {
  ensurePrivateFile(to);
  copyFileSync(from, to);
  chmodSync(to, PRIVATE_FILE_MODE);
}
