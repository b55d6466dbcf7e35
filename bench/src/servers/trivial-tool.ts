/** The tool every MCP scenario calls: no arguments, a constant answer, so only the stack is measured. */
export const TOOL_NAME = 'echo';
export const TOOL_TITLE = 'Echo';
export const TOOL_DESCRIPTION = 'Returns a constant (benchmark tool)';
export const TOOL_RESULT = { content: [{ type: 'text' as const, text: 'ok' }] };

/** The JSON-RPC body of one tools/call. */
export const TOOL_CALL_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL_NAME, arguments: {} } });

/** Streamable HTTP requires both (406 and 415 otherwise). */
export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
