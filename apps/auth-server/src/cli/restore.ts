import Database from 'better-sqlite3';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { CliFailure, EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from '@stack/cli';
import { ensurePrivateDir } from '@stack/crypto';
import { auditFiles, copyPrivate, logOf, MANIFEST, sha256File, stackLayout, type Manifest, type StackFile } from './backup-files.ts';
import { parseOptions, required } from './common.ts';

const USAGE = `Usage: npm run admin -- restore --from DIR [--force]

Puts a backup made by 'backup --to DIR' back in place (DATA_DIR, or the *_DATABASE_PATH and
AUDIT_LOG settings), after checking every file against the backup's manifest.json. Stop both
servers first: restore refuses while one has a database open. Existing data is kept: restore
refuses, or with --force moves it to DATA_DIR/replaced-<time>/. The key-encryption key is not in
a backup: start the servers with the key they had when the backup was made. With DATABASE_URL,
restore the auth data with pg_restore.
`;

/** The manifest, and each file in it checked (size, SHA-256) and mapped to where it goes. */
async function checkedBackup(from: string, databases: StackFile[], logs: string[]): Promise<StackFile[]> {
  const bad = (why: string) => new CliFailure(`${from} is not a complete, intact backup: ${why}; restore nothing from it`);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(join(from, MANIFEST), 'utf8')) as Manifest;
  } catch {
    throw bad(`${MANIFEST} is missing or unreadable`);
  }
  if (manifest?.format !== 1 || !Array.isArray(manifest.files) || manifest.files.length === 0) throw bad(`${MANIFEST} lists no files`);
  const files: StackFile[] = [];
  for (const f of manifest.files) {
    const name = typeof f?.name === 'string' ? f.name : '';
    const db = databases.find((d) => d.name === name);
    const log = logOf(logs, name);
    if (name !== basename(name) || (!db && !log)) throw bad(`${MANIFEST} lists a file the stack does not use (${JSON.stringify(name.slice(0, 60))})`);
    const path = join(from, name);
    if (!existsSync(path)) throw bad(`${name} is missing`);
    if (statSync(path).size !== f.bytes || (await sha256File(path)) !== f.sha256) throw bad(`${name} does not match its size and SHA-256 in ${MANIFEST}`);
    files.push(db ?? { name, path: join(dirname(log!), name), kind: 'audit' });
  }
  return files;
}

/**
 * Whether a process has the database open. Every connection to a WAL database holds a shared lock
 * on it as long as it is open (even idle), so an exclusive lock is granted only when no server uses it.
 */
function inUse(path: string): boolean {
  const db = new Database(path, { fileMustExist: true, timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    return false;
  } catch (err) {
    if ((err as { code?: string }).code === 'SQLITE_BUSY') return true;
    throw err;
  } finally {
    db.close();
  }
}

/** `restore --from DIR [--force]`. */
export async function run(args: string[], io: CliIo): Promise<number> {
  if (args[0] === '--help' || args[0] === 'help') {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  let from: string;
  let force: boolean;
  try {
    const o = parseOptions(args, { from: { type: 'string' }, force: { type: 'boolean' } });
    from = resolve(required(o.from, 'from'));
    force = o.force === true;
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    const { auth, dataDir, databases, logs } = stackLayout(io.env);
    if (auth.postgres) throw new CliFailure('the auth data is in PostgreSQL (DATABASE_URL): restore it with pg_restore; this command restores SQLite backups only');
    const files = await checkedBackup(from, databases, logs);
    const running = databases.find((d) => existsSync(d.path) && inUse(d.path));
    if (running) throw new CliFailure(`a server has ${running.path} open: stop both servers before restoring`);
    // What is there now: every database (with its WAL) and every audit segment, restored or not,
    // so no old chain file is left next to the restored one.
    const existing = [
      ...databases.flatMap((d) => [d.path, `${d.path}-wal`, `${d.path}-shm`]),
      ...logs.flatMap((l) => auditFiles(l).map((f) => f.path)),
    ].filter((p) => existsSync(p));
    if (existing.length > 0 && !force) {
      throw new CliFailure(`${dataDir} already holds data (${existing.map((p) => basename(p)).join(', ')}): pass --force to move it aside to ${join(dataDir, 'replaced-<time>')} and restore`);
    }
    if (existing.length > 0) {
      const aside = join(dataDir, `replaced-${new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`);
      ensurePrivateDir(aside);
      for (const p of existing) renameSync(p, join(aside, basename(p)));
      io.stdout.write(`moved the existing data to ${aside}\n`);
    }
    ensurePrivateDir(dataDir);
    for (const f of files) {
      ensurePrivateDir(dirname(f.path));
      copyPrivate(join(from, f.name), f.path);
      io.stdout.write(`${join(from, f.name)} → ${f.path}\n`);
    }
    if (!auth.keyEncryptionKey && !existsSync(join(dataDir, 'kek.key'))) {
      io.stdout.write(`KEY_ENCRYPTION_KEY is not set and ${join(dataDir, 'kek.key')} does not exist: start the servers with the key the backup was made with\n`);
    }
    return EXIT_OK;
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message.split('\n')[0]}\n`);
    return EXIT_FAILED;
  }
}
