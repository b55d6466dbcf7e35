// Child process that runs every statement on the demo database except the tools' fixed reads:
// caller-written SQL and the admin tools' DELETE / DROP TABLE (which can fire callers' triggers and
// foreign-key actions). It exists so a statement that never finishes (better-sqlite3 has no
// interrupt or progress handler, and a worker thread cannot be stopped while it is inside SQLite)
// can be ended by killing the process. Started by sql-runner.ts.
import Database from 'better-sqlite3';
import { describeDbError } from './db-errors.ts';
import { quoteIdent } from './demo-db.ts';
import { restrictConnection } from './sql-allowlist.ts';
import type { AdminRequest, ExecuteResult, RowsResult, StatementRequest, WorkerReply, WorkerRequest } from './sql-protocol.ts';
import { checkWriteEffect, protectUsers, snapshotSchema, WriteRefused } from './sql-write-check.ts';

const MAX_RESULT_CHARS = 1024 * 1024;
const MAX_BLOB_PREVIEW = 1024;

const path = process.argv[2];
if (!path || !process.send) process.exit(2);

// The query connection cannot write: opened read-only, and query_only refuses writes even if
// SQLite would otherwise allow one (e.g. to a temp schema).
const readOnly = new Database(path, { readonly: true, fileMustExist: true, timeout: 1000 });
readOnly.pragma('query_only = ON');
const readWrite = new Database(path, { fileMustExist: true, timeout: 1000 });
readWrite.pragma('foreign_keys = ON');
readWrite.pragma('recursive_triggers = ON');
// The admin tools' connection: without the guard trigger execute_sql's connection carries.
const admin = new Database(path, { fileMustExist: true, timeout: 1000 });
admin.pragma('foreign_keys = ON');
// Only the allowed functions and table-valued functions, enforced by SQLite on every connection.
for (const db of [readOnly, readWrite, admin]) restrictConnection(db);

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
  const stmt = readOnly.prepare(req.sql);
  // reader: returns rows; readonly: SQLite's own verdict that the statement changes nothing.
  if (!stmt.reader || !stmt.readonly) throw new QueryRefused();
  return readRows(stmt, req.params, req.maxRows);
}

function runStatement(req: StatementRequest): ExecuteResult {
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
  protectUsers(readWrite);
  // One transaction around the statement, so its effect can be checked and undone before it counts.
  readWrite.exec('BEGIN IMMEDIATE');
  try {
    const before = snapshotSchema(readWrite);
    const result = runStatement(req);
    checkWriteEffect(readWrite, before);
    readWrite.exec('COMMIT');
    return result;
  } finally {
    // Also the backstop that keeps the write lock free (transaction control is refused before SQL gets here).
    if (readWrite.inTransaction) readWrite.exec('ROLLBACK');
  }
}

function runAdmin(req: AdminRequest): ExecuteResult {
  const info = req.op === 'delete_users'
    ? admin.prepare('DELETE FROM users WHERE id IN (SELECT value FROM json_each(?))').run(JSON.stringify(req.ids))
    : admin.prepare(`DROP TABLE ${quoteIdent(req.table)}`).run();
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
      : err instanceof WriteRefused ? `invalid argument 'sql': ${err.message}` : describeDbError(err);
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
  readOnly.close();
  readWrite.close();
  admin.close();
  process.exit(0);
});
process.send({ type: 'ready' } satisfies WorkerReply);
