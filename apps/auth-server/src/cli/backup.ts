import Database from 'better-sqlite3';
import { existsSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from '@stack/cli';
import { ensurePrivateDir, ensurePrivateFile } from '@stack/crypto';
import { auditFiles, copyPrivate, MANIFEST, sha256File, stackLayout, type Manifest } from './backup-files.ts';
import { parseOptions, required } from './common.ts';

const USAGE = `Usage: npm run admin -- backup --to DIR

Copies every SQLite database of the stack (auth, MCP control, demo tools) into DIR with SQLite's
online backup, so it is consistent while the servers run, then both audit logs with their rotated
files, and writes manifest.json (each file's size and SHA-256) for restore to check. The key-encryption key is NOT copied:
keep it in your secret store, apart from the backups (a backup without it cannot be decrypted,
which is the point). With DATABASE_URL, the auth data is in PostgreSQL: use pg_dump for it.
`;

/** `backup --to DIR`: consistent online copies of the SQLite databases. */
export async function run(args: string[], io: CliIo): Promise<number> {
  if (args[0] === '--help' || args[0] === 'help') {
    io.stdout.write(USAGE);
    return EXIT_OK;
  }
  let to: string;
  try {
    to = resolve(required(parseOptions(args, { to: { type: 'string' } }).to, '--to'));
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message}\n${USAGE}`);
    return EXIT_USAGE;
  }
  try {
    const { auth, databases, logs } = stackLayout(io.env);
    const sources = databases.filter((s) => existsSync(s.path));
    if (existsSync(to) && readdirSync(to).some((f) => f === MANIFEST || sources.some((s) => s.name === f))) {
      io.stderr.write(`error: ${to} already holds a backup; choose an empty folder\n`);
      return EXIT_FAILED;
    }
    ensurePrivateDir(to);
    for (const s of sources) {
      const db = new Database(s.path, { readonly: true, fileMustExist: true });
      try {
        // The copy holds the same hashes as the original: created 0600 before SQLite writes into it.
        ensurePrivateFile(join(to, s.name));
        await db.backup(join(to, s.name));
      } finally {
        db.close();
      }
      io.stdout.write(`${s.path} → ${join(to, s.name)}\n`);
    }
    // The logs after the databases: every anchor in the copied databases is then in the copied logs.
    const segments = logs.flatMap(auditFiles);
    for (const s of segments) {
      copyPrivate(s.path, join(to, s.name));
      // A line being appended during the copy is cut off: the chain ends at the last whole line.
      const copy = readFileSync(join(to, s.name));
      if (copy.length > 0 && copy[copy.length - 1] !== 0x0a) truncateSync(join(to, s.name), copy.lastIndexOf(0x0a) + 1);
      io.stdout.write(`${s.path} → ${join(to, s.name)}\n`);
    }
    const manifest: Manifest = { format: 1, created: new Date().toISOString(), files: [] };
    for (const s of [...sources, ...segments]) {
      manifest.files.push({ name: s.name, bytes: statSync(join(to, s.name)).size, sha256: await sha256File(join(to, s.name)) });
    }
    ensurePrivateFile(join(to, MANIFEST));
    writeFileSync(join(to, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    if (auth.postgres) io.stdout.write('auth data is in PostgreSQL (DATABASE_URL): back it up with pg_dump\n');
    if (sources.length === 0) io.stdout.write('no SQLite databases found (nothing has started yet?)\n');
    return EXIT_OK;
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message.split('\n')[0]}\n`);
    return EXIT_FAILED;
  }
}
