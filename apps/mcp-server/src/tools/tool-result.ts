import type { CallToolResult } from '@modelcontextprotocol/server';
import { MAX_REPLY_BYTES } from '../message-limits.ts';

/** A failure whose message is safe and useful to show to the caller. */
export class ToolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolError';
  }
}

/**
 * A tool's result as one JSON text block, held and sent once. MCP (2025-06-18 and later,
 * server/tools "Structured Content") has a tool that returns structuredContent also return the
 * same JSON in a TextContent block for backwards compatibility, which puts every result in memory
 * and on the wire twice; structuredContent is required only of tools that declare an
 * outputSchema, and ours declare none. Text is what every client passes to its model, so the
 * payload goes there alone. Refuses a result over MAX_REPLY_BYTES: nothing larger leaves a tool.
 */
export function ok(data: Record<string, unknown>): CallToolResult {
  const text = JSON.stringify(data);
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_REPLY_BYTES) throw new ToolError(`the result is too large (${bytes} bytes, the limit is ${MAX_REPLY_BYTES}): ask for fewer rows or columns`);
  return { content: [{ type: 'text', text }] };
}

export function fail(message: string): CallToolResult {
  return { isError: true, content: [{ type: 'text', text: message }] };
}
