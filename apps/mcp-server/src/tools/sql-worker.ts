// Child process that runs every statement on the demo database except the tools' fixed reads:
// caller-written SQL and the admin tools' DELETE / DROP TABLE (which can fire callers' triggers and
// foreign-key actions). It exists so a statement that never finishes (better-sqlite3 has no
// interrupt or progress handler, and a worker thread cannot be stopped while it is inside SQLite)
// can be ended by killing the process. Started by sql-runner.ts.
import Database from 'better-sqlite3';
import { jsonBytes, MAX_BLOB_PREVIEW_BYTES, MAX_CELL_BYTES, MAX_RESULT_BYTES, MAX_ROW_BYTES, utf8Prefix } from '../message-limits.ts';
import { describeDbError } from './db-errors.ts';
import { quoteIdent } from './demo-db.ts';
import { restrictConnection } from './sql-allowlist.ts';
import { applyDiskQuota, diskFullMessage, ensureWalRoom, WalFull, walFullMessage } from './sql-quota.ts';
import type { AdminRequest, ExecuteResult, RowsResult, StatementRequest, WorkerReply, WorkerRequest } from './sql-protocol.ts';
import { checkWriteEffect, protectUsers, snapshotSchema, WriteRefused } from './sql-write-check.ts';

const [path, role, maxBytesArg] = process.argv.slice(2);
const maxBytes = Number(maxBytesArg);
if (!path || (role !== 'read' && role !== 'write') || !(maxBytes > 0) || !process.send) process.exit(2);

/**
 * Every connection keeps temporary data (sorts, DISTINCT, materialised subqueries) in memory:
 * temp files would grow on the disk the demo database shares with the auth database and the audit
 * logs, bounded by nothing but the time limit. The parent bounds this process's memory instead.
 */
function open(readonly: boolean): Database.Database {
  const db = new Database(path, { readonly, fileMustExist: true, timeout: 1000 });
  db.pragma('temp_store = MEMORY');
  if (!readonly) applyDiskQuota(db, maxBytes);
  // Only the allowed functions and table-valued functions, enforced by SQLite on every connection.
  restrictConnection(db);
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
  return v;
}

// Room enough for any cell once shortened: a number, null, or an empty text or blob preview with
// its size, e.g. {"truncated_text":"","length":80000000} (40 bytes).
const CUT_CELL_BYTES = 64;

/**
 * One cell as JSON, its text or blob preview shortened so that the cell takes at most `budget`
 * bytes (never less than CUT_CELL_BYTES, never more than MAX_CELL_BYTES of text). `cut` says
 * whether it was shortened.
 */
function toCell(v: unknown, budget: number): { value: unknown; cut: boolean } {
  budget = Math.max(budget, CUT_CELL_BYTES);
  if (Buffer.isBuffer(v)) {
    // base64 takes 4 bytes for every 3.
    const preview = Math.max(0, Math.min(MAX_BLOB_PREVIEW_BYTES, Math.floor((budget - CUT_CELL_BYTES) / 4) * 3));
    return { value: { blob_bytes: v.length, base64: v.subarray(0, preview).toString('base64') }, cut: preview < v.length };
  }
  if (typeof v !== 'string') return { value: toJson(v), cut: false };
  const limit = Math.min(MAX_CELL_BYTES, budget);
  // JSON takes at least 1 and at most 6 bytes (\u0001) per UTF-16 unit, plus the quotes.
  if (v.length * 6 + 2 <= limit || (v.length <= limit && jsonBytes(v) <= limit)) return { value: v, cut: false };
  const room = limit - CUT_CELL_BYTES; // for the text as JSON, quotes included
  let text = utf8Prefix(v, room - 2);
  // Escapes can still make the prefix too long: a sixth of the room always fits.
  if (jsonBytes(text) > room) text = utf8Prefix(v, Math.floor((room - 2) / 6));
  return { value: { truncated_text: text, length: v.length }, cut: true };
}

/**
 * A row with every cell converted, shortened to fit `budget` bytes of JSON: each cell gets the
 * room left after keeping CUT_CELL_BYTES for every cell after it, so the row fits whenever
 * `budget` allows CUT_CELL_BYTES per column.
 */
function toRow(row: unknown[], budget: number): { cells: unknown[]; bytes: number; cut: boolean } {
  const cells: unknown[] = [];
  let bytes = 2 + Math.max(0, row.length - 1); // brackets and commas
  let cut = false;
  row.forEach((v, i) => {
    const cell = toCell(v, budget - bytes - (row.length - 1 - i) * CUT_CELL_BYTES);
    cells.push(cell.value);
    bytes += jsonBytes(cell.value);
    cut ||= cell.cut;
  });
  return { cells, bytes, cut };
}

/**
 * Reads rows until `maxRows`, MAX_RESULT_BYTES of JSON (column names included) or the end. Each
 * row is held to MAX_ROW_BYTES and each text cell to MAX_CELL_BYTES; the first row is shortened
 * to whatever room is left, so it always fits. Nothing larger than MAX_RESULT_BYTES reaches the
 * parent process, however large SQLite's values are.
 */
function readRows(stmt: Database.Statement, params: unknown[], maxRows: number): RowsResult {
  stmt.raw(true).safeIntegers(true);
  const columns = stmt.columns().map((c) => c.name);
  let size = jsonBytes(columns) + 64; // the field names and counts around the rows
  if (size > MAX_RESULT_BYTES) throw new ResultTooLarge(`the column names alone exceed the result limit of ${MAX_RESULT_BYTES} bytes`);
  const rows: unknown[][] = [];
  const reasons = new Set<string>();
  for (const row of stmt.iterate(...params) as Iterable<unknown[]>) {
    if (rows.length >= maxRows) {
      reasons.add(`stopped at max_rows (${maxRows})`);
      break; // ends the iterator, which resets the statement
    }
    const room = MAX_RESULT_BYTES - size - 1;
    let converted = toRow(row, MAX_ROW_BYTES);
    if (converted.bytes > room) {
      if (rows.length > 0) {
        reasons.add(`stopped at the result limit of ${MAX_RESULT_BYTES} bytes`);
        break;
      }
      converted = toRow(row, room);
      // Only a row of thousands of columns can miss even then.
      if (converted.bytes > room) throw new ResultTooLarge(`one row exceeds the result limit of ${MAX_RESULT_BYTES} bytes even with its values shortened`);
    }
    if (converted.cut) reasons.add(`long values were shortened (text to ${MAX_CELL_BYTES} bytes as { truncated_text, length }, blobs to a ${MAX_BLOB_PREVIEW_BYTES}-byte preview, rows to ${MAX_ROW_BYTES} bytes)`);
    size += converted.bytes + 1;
    rows.push(converted.cells);
  }
  const truncated = reasons.size > 0;
  return { columns, rows, rowCount: rows.length, truncated, ...(truncated ? { truncatedReason: [...reasons].join('; ') } : {}) };
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
class ResultTooLarge extends Error {}

function handle(req: WorkerRequest): WorkerReply {
  try {
    const result = req.op === 'delete_users' || req.op === 'drop_table' ? runAdmin(req) : req.op === 'query' ? query(req) : execute(req);
    return { type: 'reply', id: req.id, ok: true, result };
  } catch (err) {
    const error = err instanceof QueryRefused
      ? 'the query tool only runs read-only statements that return rows (use execute_sql to change data)'
      : err instanceof WriteRefused ? `invalid argument 'sql': ${err.message}`
        : err instanceof ResultTooLarge ? err.message
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
