import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { sqlParams, sqlText } from './schemas.ts';
import { checkWriteSql } from './sql-guard.ts';
import { ok } from './tool-result.ts';

export function executeSqlTool({ runner, defaultMaxRows }: ToolDeps) {
  return defineTool({
    name: 'execute_sql',
    title: 'Execute a SQL statement',
    description:
      'Executes one SQL statement that may change data or schema (INSERT, UPDATE, DELETE, CREATE …) and returns ' +
      'the number of changed rows and the last inserted row id. Refused: ATTACH, DETACH, PRAGMA, VACUUM, transaction control, ' +
      'any DROP, CREATE TRIGGER, CREATE VIRTUAL TABLE, temporary tables/views/triggers, functions outside the query tool\'s list, and deleting (DELETE, REPLACE) from users or altering it — ' +
      'dropping tables and deleting users are for the admin-only drop_table and delete_users tools. ' +
      'Rows a statement returns (RETURNING) come back in result, limited in size like the query tool\'s.',
    inputSchema: {
      sql: sqlText.describe('one SQL statement, with ? placeholders for values'),
      params: sqlParams.optional().describe('values bound to the ? placeholders, in order'),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    async run({ sql, params }, ctx) {
      checkWriteSql(sql);
      const result = await runner.execute(ctx, sql, params ?? [], defaultMaxRows);
      return ok({ ...result });
    },
  });
}
