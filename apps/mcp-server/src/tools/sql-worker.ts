// Child process that runs every statement on the demo database except the tools' fixed reads:
// caller-written SQL and the admin tools' DELETE / DROP TABLE (which can fire callers' triggers and
// foreign-key actions). It exists so a statement that never finishes (better-sqlite3 has no
// interrupt or progress handler, and a worker thread cannot be stopped while it is inside SQLite)
// can be ended by killing the process. Started by sql-runner.ts.
import Database from 'better-sqlite3';
import { describeDbError } from './db-errors.ts';
import { quoteIdent } from './demo-db.ts';
import { applyDiskQuota, diskFullMessage, ensureWalRoom, WalFull, walFullMessage } from './sql-quota.ts';
import type { AdminRequest, ExecuteResult, RowsResult, StatementRequest, WorkerReply, WorkerRequest } from './sql-protocol.ts';
import { checkWriteEffect, protectUsers, snapshotSchema, WriteRefused } from './sql-write-check.ts';

const MAX_RESULT_CHARS = 1024 * 1024;
const MAX_BLOB_PREVIEW = 1024;

const [path, role, maxBytesArg] = process.argv.slice(2);
const maxBytes = Number(maxBytesArg);
if (!path || (role !== 'read' && role !== 'write') || !(maxBytes > 0) || !process.send) process.exit(2);

/**
 * Every connection keeps temporary data (sorts, DISTINCT, materialised subqueries) in memory:
 * temp files would grow on the disk the demo database shares with the auth database and the audit
 * logs, bounded by nothing but the time limit. The parent bounds this process's memory instead.
 */
function open(readonly: boolean): Database.Database {
  const db = new Database(path!, { readonly, fileMustExist: true, timeout: 1000 });
  db.pragma('temp_store = MEMORY');
  if (!readonly) applyDiskQuota(db, maxBytes);
  return db;
}

// One process per role: the read workers answer query (and describe_table's count), the single
// write worker runs every write in turn, so writes queue in the runner rather than fail busy.
// The query connection cannot write: opened read-only, and query_only refuses writes even if
// SQLite would otherwise allow one (e.g. to a temp schema).
const readOnly = role === 'read' ? open(true) : undefined;
readOnly?.pragma('query_only = ON');
const writer = role === 'write' ? open(false) : undefined;
writer?.pragma('foreign_keys = ON');
writer?.pragma('recursive_triggers = ON');
// The admin tools' connection: without the guard trigger execute_sql's connection carries.
const admin = role === 'write' ? open(false) : undefined;
admin?.pragma('foreign_keys = ON');

/** The connection a request needs; a request sent to the wrong kind of worker is a bug in the runner. */
function connection(db: Database.Database | undefined): Database.Database {
  if (!db) throw new Error(`this SQL worker (${role}) does not run that request`);
  return db;
}

function toJson(v: unknown): unknown {
  if (typeof v === 'bigint') return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v.toString();
  if (Buffer.isBuffer(v)) return { blob_bytes: v.length, base64: v.subarray(0, MAX_BLOB_PREVIEW).toString('base64') };
  return v;
}

function readRows(stmt: Database.Statement, params: unknown[], maxRows: number): RowsResult {
  stmt.raw(true).safeIntegers(true);
  const columns = stmt.columns().map((c) => c.name);
  const rows: unknown[][] = [];
  let size = 0;
  let truncated = false;
  for (const row of stmt.iterate(...params) as Iterable<unknown[]>) {
    if (rows.length >= maxRows || size > MAX_RESULT_CHARS) {
      truncated = true;
      break; // ends the iterator, which resets the statement
    }
    const converted = row.map(toJson);
    size += JSON.stringify(converted).length;
    rows.push(converted);
  }
  return { columns, rows, rowCount: rows.length, truncated };
}

function query(req: StatementRequest): RowsResult {
  const stmt = connection(readOnly).prepare(req.sql);
  // reader: returns rows; readonly: SQLite's own verdict that the statement changes nothing.
  if (!stmt.reader || !stmt.readonly) throw new QueryRefused();
  return readRows(stmt, req.params, req.maxRows);
}

function runStatement(readWrite: Database.Database, req: StatementRequest): ExecuteResult {
  const stmt = readWrite.prepare(req.sql);
  if (stmt.reader) {
    // RETURNING makes all its changes on the first step, so stopping at maxRows loses none.
    const result = readRows(stmt, req.params, req.maxRows);
    const info = readWrite.prepare('SELECT changes() AS changes, last_insert_rowid() AS id').get() as { changes: number; id: number };
    return { changes: info.changes, lastInsertRowid: info.id, result };
  }
  const info = stmt.run(...req.params);
  return { changes: info.changes, lastInsertRowid: toJson(info.lastInsertRowid) as number | string };
}

function execute(req: StatementRequest): ExecuteResult {
  const readWrite = connection(writer);
  ensureWalRoom(readWrite, path!, maxBytes);
  protectUsers(readWrite);
  // One transaction around the statement, so its effect can be checked and undone before it counts.
  readWrite.exec('BEGIN IMMEDIATE');
  try {
    const before = snapshotSchema(readWrite);
    const result = runStatement(readWrite, req);
    checkWriteEffect(readWrite, before);
    readWrite.exec('COMMIT');
    return result;
  } finally {
    // Also the backstop that keeps the write lock free (transaction control is refused before SQL gets here).
    if (readWrite.inTransaction) readWrite.exec('ROLLBACK');
  }
}

function runAdmin(req: AdminRequest): ExecuteResult {
  const db = connection(admin);
  ensureWalRoom(db, path!, maxBytes);
  const info = req.op === 'delete_users'
    ? db.prepare('DELETE FROM users WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(req.ids))
    : db.prepare(`DROP TABLE ${quoteIdent(req.table)}`).run();
  return { changes: info.changes, lastInsertRowid: 0 };
}

class QueryRefused extends Error {}

function handle(req: WorkerRequest): WorkerReply {
  try {
    const result = req.op === 'delete_users' || req.op === 'drop_table' ? runAdmin(req) : req.op === 'query' ? query(req) : execute(req);
    return { type: 'reply', id: req.id, ok: true, result };
  } catch (err) {
    const error = err instanceof QueryRefused
      ? 'the query tool only runs read-only statements that return rows (use execute_sql to change data)'
      : err instanceof WriteRefused ? `invalid argument 'sql': ${err.message}`
      // The write was rolled back as a whole (execute's transaction, or the admin statement's own).
      : err instanceof Database.SqliteError && err.code === 'SQLITE_FULL' ? diskFullMessage(maxBytes)
      : err instanceof WalFull ? walFullMessage(maxBytes)
      : describeDbError(err);
    return { type: 'reply', id: req.id, ok: false, error };
  }
}

process.on('message', (msg: WorkerRequest) => process.send!(handle(msg)));
// The parent decides when this process ends (and kills it at a time limit). A terminal's Ctrl-C or
// a process manager signals the whole group: ignoring it here lets the parent finish in-flight
// calls and close the databases in order, instead of this process dying mid-statement.
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => {});
// The parent is gone (or closed the channel): close the connections so SQLite checkpoints its
// write-ahead log, then leave.
process.on('disconnect', () => {
  readOnly?.close();
  writer?.close();
  admin?.close();
  process.exit(0);
});
process.send({ type: 'ready' } satisfies WorkerReply);
