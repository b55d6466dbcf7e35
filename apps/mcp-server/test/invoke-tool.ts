import type { CallToolResult } from '@modelcontextprotocol/server';
import { parseArguments, prepareTool } from '../src/pipeline/gate.ts';
import { fail } from '../src/tools/tool-result.ts';
import type { ToolContext, ToolDefinition } from '../src/tools/types.ts';

/**
 * Calls a tool as the server does without a transport: the gate's parse of the arguments, then the
 * handler. Arguments the gate refuses come back as an isError result carrying the gate's reason.
 */
export function invokeTool(tool: ToolDefinition, args: unknown, ctx: ToolContext): Promise<CallToolResult> {
  const parsed = parseArguments(prepareTool(tool), args);
  return parsed.ok ? tool.handler(parsed.args, ctx) : Promise.resolve(fail(parsed.reason));
}
