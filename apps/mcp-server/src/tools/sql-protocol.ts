import type { SqlParam } from './schemas.ts';

// Messages between the tools (parent) and the SQL worker processes (children).

/** Caller-written SQL: query on the read-only connection, execute on the read-write one. */
export interface StatementRequest {
  id: number;
  op: 'query' | 'execute';
  sql: string;
  params: SqlParam[];
  maxRows: number;
}

/**
 * The admin tools' fixed statements. They run in the worker too, under the same time limit: a
 * DELETE or DROP TABLE can fire triggers and foreign-key actions that callers defined.
 */
export type AdminRequest =
  | { id: number; op: 'delete_users'; ids: number[] }
  | { id: number; op: 'drop_table'; table: string };

export type WorkerRequest = StatementRequest | AdminRequest;

export interface RowsResult {
  columns: string[];
  rows: unknown[][];
  rowCount: number;
  /** True when rows were left out or values shortened (see message-limits.ts); truncatedReason says which. */
  truncated: boolean;
  truncatedReason?: string;
}

export interface ExecuteResult {
  changes: number;
  lastInsertRowid: number | string;
  /** Present when the statement returned rows (RETURNING, or a plain SELECT). */
  result?: RowsResult;
}

export type WorkerReply =
  | { type: 'ready' }
  | { type: 'reply'; id: number; ok: true; result: RowsResult | ExecuteResult }
  | { type: 'reply'; id: number; ok: false; error: string };
