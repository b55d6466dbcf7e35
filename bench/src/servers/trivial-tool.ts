/** The tool every MCP scenario calls: no arguments, a constant answer, so only the stack is measured. */
export const TOOL_NAME = 'echo';
export const TOOL_TITLE = 'Echo';
export const TOOL_DESCRIPTION = 'Returns a constant (benchmark tool)';
export const TOOL_RESULT = { content: [{ type: 'text' as const, text: 'ok' }] };

/** The JSON-RPC body of one tools/call. */
export const TOOL_CALL_BODY = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: TOOL_NAME, arguments: {} } });

/** Streamable HTTP requires both (406 and 415 otherwise). */
export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** The same call as a 2026-07-28 client sends it: the per-request envelope in `_meta`. */
export const TOOL_CALL_BODY_2026 = JSON.stringify({
  jsonrpc: '2.0', id: 1, method: 'tools/call',
  params: { name: TOOL_NAME, arguments: {}, _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} } },
});

/** 2026-07-28 requests repeat the revision, method and tool name in headers the server checks. */
export const MCP_HEADERS_2026 = { ...MCP_HEADERS, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': TOOL_NAME };
