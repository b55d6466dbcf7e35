import type Database from 'better-sqlite3';
import type { SqlRunner } from './sql-runner.ts';

/**
 * What the demo tools share: the connection for the fixed reads of the schema (nothing callers can
 * make slow), the SQL runner for every other statement, and the row default.
 */
export interface ToolDeps {
  db: Database.Database;
  runner: SqlRunner;
  defaultMaxRows: number;
}
