import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { listTableNames } from './demo-db.ts';
import { ok } from './tool-result.ts';

export function listTablesTool({ db }: ToolDeps) {
  return defineTool({
    name: 'list_tables',
    title: 'List tables',
    description: 'Lists the tables of the demo database.',
    inputSchema: {},
    annotations: { readOnlyHint: true, openWorldHint: false },
    run: () => ok({ tables: listTableNames(db) }),
  });
}
