import { z } from 'zod';
import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { listTableNames } from './demo-db.ts';
import { ok, ToolError } from './tool-result.ts';

export function deleteUsersTool({ db }: ToolDeps) {
  // One bound parameter holding a JSON array: the SQL text is the same whatever the ids are.
  const del = () => db.prepare('DELETE FROM users WHERE id IN (SELECT value FROM json_each(?))');
  return defineTool({
    name: 'delete_users',
    title: 'Delete users',
    description: 'Deletes users by id (their orders are deleted with them) and returns how many were deleted.',
    inputSchema: {
      ids: z.array(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)).min(1).max(100).describe('user ids to delete'),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    run({ ids }) {
      if (!listTableNames(db).includes('users')) throw new ToolError("the table 'users' does not exist");
      const unique = [...new Set(ids)];
      const { changes } = del().run(JSON.stringify(unique));
      return ok({ deleted: changes, requested: unique.length });
    },
  });
}
