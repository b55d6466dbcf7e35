import { openDemoDb } from './demo-db.ts';
import type { ToolDeps } from './deps.ts';
import { deleteUsersTool } from './delete-users.ts';
import { describeTableTool } from './describe-table.ts';
import { dropTableTool } from './drop-table.ts';
import { executeSqlTool } from './execute-sql.ts';
import { listTablesTool } from './list-tables.ts';
import { queryTool } from './query.ts';
import { MAX_ROWS_LIMIT } from './schemas.ts';
import { applyDiskQuota } from './sql-quota.ts';
import { createSqlRunner } from './sql-runner.ts';
import type { ToolDefinition } from './types.ts';

export type { ToolContext, ToolDefinition } from './types.ts';

export interface DemoToolsOptions {
  /** The demo database file (never the auth or MCP control database); created and seeded on first start. */
  databasePath: string;
  /** Rows a query returns when the caller does not say (default 100, at most 1000). */
  maxRows?: number;
  /** Time limit for a query (query, describe_table's count), default 2000 ms. */
  queryTimeoutMs?: number;
  /** Time limit for a write (execute_sql, the admin tools), default 1000 ms or queryTimeoutMs if shorter. */
  writeTimeoutMs?: number;
  /** SQL worker processes for queries (default 2), plus one for writes; each caller runs one statement at a time. */
  sqlWorkers?: number;
  /** Disk quota of the demo database in bytes (default 256 MiB): a write that would pass it fails and is rolled back. */
  maxBytes?: number;
  /** Resident memory at which a SQL worker is killed mid-statement, in bytes (default 512 MiB). */
  workerMemoryBytes?: number;
  /** First cool-down for a caller whose statements keep being stopped, doubling per further stop (default 10 s). */
  coolDownMs?: number;
}

export const DEMO_DB_MAX_BYTES = 256 * 1024 * 1024;
export const SQL_WORKER_MEMORY_BYTES = 512 * 1024 * 1024;

/** The demo database tools: list_tables, describe_table, query, execute_sql, delete_users, drop_table. */
export function createDemoTools(opts: DemoToolsOptions): { tools: ToolDefinition[]; close(): Promise<void> } {
  const maxBytes = opts.maxBytes ?? DEMO_DB_MAX_BYTES;
  const db = openDemoDb(opts.databasePath);
  // This connection only reads after seeding, but it can write: the quota is per connection.
  applyDiskQuota(db, maxBytes);
  const queryTimeoutMs = opts.queryTimeoutMs ?? 2000;
  const runner = createSqlRunner({
    databasePath: opts.databasePath,
    workers: opts.sqlWorkers ?? 2,
    queryTimeoutMs,
    writeTimeoutMs: opts.writeTimeoutMs ?? Math.min(1000, queryTimeoutMs),
    maxBytes,
    memoryLimitBytes: opts.workerMemoryBytes ?? SQL_WORKER_MEMORY_BYTES,
    ...(opts.coolDownMs !== undefined ? { coolDownMs: opts.coolDownMs } : {}),
  });
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
