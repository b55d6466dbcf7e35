import { z, type ZodRawShape } from 'zod';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';
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

function describeIssues(error: z.ZodError): string {
  const parts = error.issues.slice(0, 5).map((i) => {
    if (i.code === 'unrecognized_keys') return `unknown argument ${i.keys.map((k) => `'${k.slice(0, 64)}'`).join(', ')}`;
    const path = i.path.length ? `'${i.path.join('.')}'` : 'arguments';
    return `invalid argument ${path}: ${i.message.toLowerCase()}`;
  });
  return parts.join('; ');
}

/**
 * Builds a ToolDefinition whose handler validates its arguments strictly (unknown keys rejected,
 * even if the transport only stripped them) and turns every failure into an `isError` result
 * with a message that names the problem but never a stack trace or a host path.
 */
export function defineTool<S extends ZodRawShape>(spec: ToolSpec<S>): ToolDefinition {
  const schema = z.strictObject(spec.inputSchema);
  return {
    name: spec.name,
    title: spec.title,
    description: spec.description,
    inputSchema: spec.inputSchema,
    ...(spec.annotations ? { annotations: spec.annotations } : {}),
    async handler(args: unknown, ctx: ToolContext): Promise<CallToolResult> {
      const parsed = schema.safeParse(args ?? {});
      if (!parsed.success) return fail(describeIssues(parsed.error));
      try {
        return await spec.run(parsed.data, ctx);
      } catch (err) {
        if (err instanceof ToolError) return fail(err.message);
        return fail(describeDbError(err));
      }
    },
  };
}

/** The strict zod object for a tool's input, for servers that register full schemas. */
export function inputObject(tool: ToolDefinition): z.ZodObject {
  return z.strictObject(tool.inputSchema);
}
