import Database from 'better-sqlite3';
import { existsSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, type CliIo } from '@stack/cli';
import { ensurePrivateDir, ensurePrivateFile } from '@stack/crypto';
import { loadAuthConfig } from '../config.ts';
import { loadMcpConfig } from '../../../mcp-server/src/config.ts';
import { parseOptions, required } from './common.ts';

const USAGE = `Usage: npm run admin -- backup --to DIR

Copies every SQLite database of the stack (auth, MCP control, demo tools) into DIR with SQLite's
online backup, so it is consistent while the servers run. The key-encryption key is NOT copied:
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
    const auth = loadAuthConfig(io.env);
    const mcp = loadMcpConfig(io.env);
    const sources = [
      ...(auth.postgres ? [] : [{ name: 'auth.db', path: auth.databasePath }]),
      { name: 'mcp.db', path: mcp.databasePath },
      { name: 'demo.db', path: mcp.demoDatabasePath },
    ].filter((s) => existsSync(s.path));
    if (existsSync(to) && readdirSync(to).some((f) => sources.some((s) => s.name === f))) {
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
    if (auth.postgres) io.stdout.write('auth data is in PostgreSQL (DATABASE_URL): back it up with pg_dump\n');
    if (sources.length === 0) io.stdout.write('no SQLite databases found (nothing has started yet?)\n');
    return EXIT_OK;
  } catch (err) {
    io.stderr.write(`error: ${(err as Error).message.split('\n')[0]}\n`);
    return EXIT_FAILED;
  }
}
