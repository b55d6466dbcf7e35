import { openDemoDb } from './demo-db.ts';
import type { ToolDeps } from './deps.ts';
import { deleteUsersTool } from './delete-users.ts';
import { describeTableTool } from './describe-table.ts';
import { dropTableTool } from './drop-table.ts';
import { executeSqlTool } from './execute-sql.ts';
import { listTablesTool } from './list-tables.ts';
import { queryTool } from './query.ts';
import { MAX_ROWS_LIMIT } from './schemas.ts';
import { createSqlRunner } from './sql-runner.ts';
import type { ToolDefinition } from './types.ts';

export type { ToolContext, ToolDefinition } from './types.ts';
export { inputObject } from './define-tool.ts';

export interface DemoToolsOptions {
  /** The demo database file (never the auth or MCP control database); created and seeded on first start. */
  databasePath: string;
  /** Rows a query returns when the caller does not say (default 100, at most 1000). */
  maxRows?: number;
  /** Time limit for every statement run in the SQL workers (query, execute_sql, the admin tools), default 2000 ms. */
  queryTimeoutMs?: number;
  /** SQL worker processes (default 2); each caller runs one statement at a time. */
  sqlWorkers?: number;
}

/** The demo database tools: list_tables, describe_table, query, execute_sql, delete_users, drop_table. */
export function createDemoTools(opts: DemoToolsOptions): { tools: ToolDefinition[]; close(): Promise<void> } {
  const db = openDemoDb(opts.databasePath);
  const runner = createSqlRunner({ databasePath: opts.databasePath, timeoutMs: opts.queryTimeoutMs ?? 2000, workers: opts.sqlWorkers ?? 2 });
  runner.warm();
  const deps: ToolDeps = { db, runner, defaultMaxRows: Math.min(Math.max(1, Math.trunc(opts.maxRows ?? 100)), MAX_ROWS_LIMIT) };
  const tools = [listTablesTool, describeTableTool, queryTool, executeSqlTool, deleteUsersTool, dropTableTool].map((make) => make(deps));
  return {
    tools,
    async close() {
      // SQLite checkpoints and removes the WAL only when the last connection closes: let the
      // worker process (a second connection) exit first.
      await runner.close();
      if (db.open) db.close();
    },
  };
}
