import type { z, ZodRawShape } from 'zod';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/server';
import type { ToolContext, ToolDefinition } from './types.ts';
import { describeDbError } from './db-errors.ts';
import { fail, ToolError } from './tool-result.ts';

interface ToolSpec<S extends ZodRawShape> {
  name: string;
  title: string;
  description: string;
  inputSchema: S;
  annotations?: ToolAnnotations;
  run(args: z.infer<z.ZodObject<S>>, ctx: ToolContext): Promise<CallToolResult> | CallToolResult;
}

/**
 * Builds a ToolDefinition whose handler turns every failure into an `isError` result with a
 * message that names the problem but never a stack trace or a host path.
 */
export function defineTool<S extends ZodRawShape>(spec: ToolSpec<S>): ToolDefinition {
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: spec.inputSchema,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
    async handler(args, ctx) {
      try {
        // The gate parsed `args` with the strict form of spec.inputSchema (ToolDefinition.handler).
        return await spec.run(args as z.infer<z.ZodObject<S>>, ctx);
      } catch (err) {
        if (err instanceof ToolError) return fail(err.message);
        return fail(describeDbError(err));
      }
    },
  };
}
