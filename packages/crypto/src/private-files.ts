import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readdirSync, unlinkSync, writeFileSync, type Stats } from 'node:fs';
import { basename, dirname, join } from 'node:path';

// The data directory holds password and client-secret hashes, wrapped keys and audit trails:
// nothing in it is for other users of the machine. Everything the apps create there is created
// private; what already exists is reported, never changed behind the operator's back.

/** Mode of the data directory and any directory created for the apps' files. */
export const PRIVATE_DIR_MODE = 0o700;
/** Mode of every file the apps create (databases and their -wal/-shm, keys, audit logs, backups). */
export const PRIVATE_FILE_MODE = 0o600;

const isCode = (err: unknown, ...codes: string[]) => codes.includes((err as NodeJS.ErrnoException).code ?? '');

/** Creates `dir` and any missing parent with mode 0700; an existing directory is left as it is. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}

/**
 * Creates `path` empty with mode 0600 (and its directory 0700) unless it exists. Called before
 * SQLite opens a database file: SQLite gives the -wal, -shm and -journal files it creates the
 * mode of the database file, so they are private too.
 */
export function ensurePrivateFile(path: string): void {
  ensurePrivateDir(dirname(path));
  try {
    closeSync(openSync(path, 'wx', PRIVATE_FILE_MODE));
  } catch (err) {
    if (!isCode(err, 'EEXIST')) throw err;
  }
}

/**
 * Creates `path` with `data` (mode 0600) if no file is there, atomically: the content is written
 * to a temporary name first and then linked into place, so a process starting at the same moment
 * never reads a half-written file, and exactly one writer wins. Returns whether this call created it.
 */
export function writePrivateFileOnce(path: string, data: string | Uint8Array): boolean {
  ensurePrivateDir(dirname(path));
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  writeFileSync(tmp, data, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
  try {
    linkSync(tmp, path);
    return true;
  } catch (err) {
    if (isCode(err, 'EEXIST')) return false;
    // A file system without hard links: exclusive create still picks one winner.
    if (!isCode(err, 'EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS')) throw err;
    try {
      writeFileSync(path, data, { mode: PRIVATE_FILE_MODE, flag: 'wx' });
      return true;
    } catch (e) {
      if (isCode(e, 'EEXIST')) return false;
      throw e;
    }
  } finally {
    unlinkSync(tmp);
  }
}

const octal = (mode: number) => `0${(mode & 0o777).toString(8)}`;

function wider(path: string, st: Stats): string | undefined {
  if (st.isSymbolicLink() || !(st.isFile() || st.isDirectory())) return undefined;
  if ((st.mode & 0o077) === 0) return undefined;
  const want = st.isDirectory() ? PRIVATE_DIR_MODE : PRIVATE_FILE_MODE;
  return `${path} is open to other users (mode ${octal(st.mode)}); it holds secrets: chmod ${want.toString(8)} '${path}'`;
}

function stat(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if (isCode(err, 'ENOENT', 'ENOTDIR')) return undefined;
    throw err;
  }
}

/**
 * One warning for each existing directory or file among `paths` (and, for a directory, each entry
 * directly in it) that group or others may access: name and mode only, never content. Missing
 * paths are skipped; they will be created private.
 */
export function privateModeWarnings(paths: readonly string[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  const check = (p: string, st: Stats) => {
    if (seen.has(p)) return;
    seen.add(p);
    const w = wider(p, st);
    if (w) out.push(w);
  };
  for (const path of paths) {
    const st = stat(path);
    if (!st) continue;
    check(path, st);
    if (!st.isDirectory()) continue;
    for (const name of readdirSync(path).sort()) {
      const child = join(path, name);
      const cst = stat(child);
      if (cst) check(child, cst);
    }
  }
  return out;
}

/** A database file with the files SQLite keeps beside it. */
export const sqliteFiles = (path: string): string[] => [path, `${path}-wal`, `${path}-shm`, `${path}-journal`];
