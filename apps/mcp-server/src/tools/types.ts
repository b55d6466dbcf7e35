import type { ZodRawShape } from 'zod';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/server';

/** Who is calling a tool; set by the server pipeline after authentication and authorization. */
export interface ToolContext {
  identity: {
    kind: string;
    subject: string;
    /** A role the stack file declares: tools never decide by role name (the rules do). */
    role: string;
    scopes: string[];
    clientId?: string;
  };
  requestId: string;
}

/** One MCP tool: metadata, a zod input shape and its handler. */
export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  /** Zod v4 object shape; the gate checks every call's arguments against its strict form (unknown keys rejected). */
  inputSchema: ZodRawShape;
  annotations?: ToolAnnotations;
  /** Runs the tool on the arguments as the gate parsed them (pipeline/gate.ts), never on raw input. */
  handler(args: Record<string, unknown>, ctx: ToolContext): Promise<CallToolResult>;
}
