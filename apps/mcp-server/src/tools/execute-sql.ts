import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { sqlParams, sqlText } from './schemas.ts';
import { checkSql } from './sql-guard.ts';
import { ok } from './tool-result.ts';

export function executeSqlTool({ runner, defaultMaxRows }: ToolDeps) {
  return defineTool({
    name: 'execute_sql',
    title: 'Execute a SQL statement',
    description:
      'Executes one SQL statement that may change data or schema (INSERT, UPDATE, DELETE, CREATE …) and returns ' +
      'the number of changed rows and the last inserted row id. ATTACH, DETACH, PRAGMA, VACUUM and transaction control are refused.',
    inputSchema: {
      sql: sqlText.describe('one SQL statement, with ? placeholders for values'),
      params: sqlParams.optional().describe('values bound to the ? placeholders, in order'),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    async run({ sql, params }) {
      checkSql(sql);
      const result = await runner.execute(sql, params ?? [], defaultMaxRows);
      return ok({ ...result });
    },
  });
}
