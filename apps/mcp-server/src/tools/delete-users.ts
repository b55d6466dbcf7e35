import { z } from 'zod';
import { defineTool } from './define-tool.ts';
import type { ToolDeps } from './deps.ts';
import { listTableNames } from './demo-db.ts';
import { ok, ToolError } from './tool-result.ts';

export function deleteUsersTool({ db, runner }: ToolDeps) {
  return defineTool({
    name: 'delete_users',
    title: 'Delete users',
    description: 'Deletes users by id (their orders are deleted with them) and returns how many were deleted.',
    inputSchema: {
      ids: z.array(z.number().int().positive().max(Number.MAX_SAFE_INTEGER)).min(1).max(100).describe('user ids to delete'),
    },
    annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    async run({ ids }, ctx) {
      if (!listTableNames(db).includes('users')) throw new ToolError("the table 'users' does not exist");
      const unique = [...new Set(ids)];
      // In the SQL worker, under its time limit: the delete fires whatever triggers and
      // foreign-key actions the schema holds, which must never block this process.
      const { changes } = await runner.admin(ctx, { op: 'delete_users', ids: unique });
      return ok({ deleted: changes, requested: unique.length });
    },
  });
}
