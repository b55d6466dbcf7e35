import { z } from 'zod';
import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { quoteIdent } from './demo-db.ts';
import { tableName } from './schemas.ts';
import { existingTable } from './table-lookup.ts';
import { ok } from './tool-result.ts';

export function dropTableTool({ db }: ToolDeps) {
  return defineTool({
    name: 'drop_table',
    title: 'Drop a table',
    description: 'Drops one existing table and all its data. Requires confirm: true.',
    inputSchema: {
      table: tableName.describe('name of an existing table (see list_tables)'),
      confirm: z.literal(true).describe('must be true: dropping a table cannot be undone'),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: false, openWorldHint: false },
    run({ table }) {
      const name = existingTable(db, table);
      db.exec(`DROP TABLE ${quoteIdent(name)}`);
      return ok({ dropped: name });
    },
  });
}
