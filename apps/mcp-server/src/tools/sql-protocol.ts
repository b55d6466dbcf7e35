import type { SqlParam } from './schemas.ts';

// Messages between the tools (parent) and the SQL worker process (child).

export interface WorkerRequest {
  id: number;
  /** query: the read-only connection; execute: the read-write one. */
  op: 'query' | 'execute';
  sql: string;
  params: SqlParam[];
  maxRows: number;
}

export interface RowsResult {
  columns: string[];
  rows: unknown[][];
  rowCount: number;
  truncated: boolean;
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
