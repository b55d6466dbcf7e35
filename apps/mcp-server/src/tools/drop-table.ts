import { z } from 'zod';
import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { tableName } from './schemas.ts';
import { existingTable } from './table-lookup.ts';
import { ok } from './tool-result.ts';

export function dropTableTool({ db, runner }: ToolDeps) {
  return defineTool({
    name: 'drop_table',
    title: 'Drop a table',
    description: 'Drops one existing table and all its data. Requires confirm: true.',
    inputSchema: {
      table: tableName.describe('name of an existing table (see list_tables)'),
      confirm: z.literal(true).describe('must be true: dropping a table cannot be undone'),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    async run({ table }, ctx) {
      const name = existingTable(db, table);
      // In the SQL worker, under its time limit: DROP TABLE first deletes every row, which runs
      // foreign-key actions (and the triggers they reach) on other tables.
      await runner.admin(ctx, { op: 'drop_table', table: name });
      return ok({ dropped: name });
    },
  });
}
