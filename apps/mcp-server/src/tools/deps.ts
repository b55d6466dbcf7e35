import type Database from 'better-sqlite3';
import type { SqlRunner } from './sql-runner.ts';

/** What the demo tools share: the fixed-statement connection, the caller-SQL runner and the row default. */
export interface ToolDeps {
  db: Database.Database;
  runner: SqlRunner;
  defaultMaxRows: number;
}
