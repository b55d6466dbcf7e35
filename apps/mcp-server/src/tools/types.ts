import type { ZodRawShape } from 'zod';
import type { CallToolResult, ToolAnnotations } from '@modelcontextprotocol/sdk/types.js';

/** Who is calling a tool; set by the server pipeline after authentication and authorization. */
export interface ToolContext {
  identity: {
    kind: string;
    subject: string;
    role: 'admin' | 'developer' | 'viewer';
    scopes: string[];
    clientId?: string;
  };
  requestId: string;
}

/** One MCP tool: metadata, a zod input shape (unknown keys rejected) and its handler. */
export interface ToolDefinition {
  name: string;
  title: string;
  description: string;
  /** Zod v4 object shape; the handler re-validates with strict semantics, so unknown keys are rejected. */
  inputSchema: ZodRawShape;
  annotations?: ToolAnnotations;
  handler(args: any, ctx: ToolContext): Promise<CallToolResult>;
}
