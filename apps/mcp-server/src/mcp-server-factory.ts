// The one file that uses the MCP SDK's server API (server, transports, schema conversion): the
// rest of the app sees the gate's decisions and plain tool definitions.
import type { Readable, Writable } from 'node:stream';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { toJsonSchemaCompat } from '@modelcontextprotocol/sdk/server/zod-json-schema-compat.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult, type RequestId, type Tool } from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '@stack/mcp-auth';
import type { Auditor } from './pipeline/audit.ts';
import type { ApprovedCall, PreparedTool } from './pipeline/gate.ts';

export interface ServerFactoryDeps {
  tools: ReadonlyMap<string, PreparedTool>;
  /** What tools/list shows: the tools the gate lets `identity` call, under the current policy. */
  visibleTools(identity: Identity): readonly PreparedTool[];
  audit: Auditor;
  version: string;
}

export interface SessionInfo {
  identity: Identity;
  transport: 'http' | 'stdio';
  address?: string | undefined;
  /** The call the gate approved for this JSON-RPC request id, its arguments already parsed. */
  approvedCall(rpcId: RequestId): ApprovedCall | undefined;
}

const SERVER_INFO = { name: 'mcp-oauth-stack-db', title: 'Database tools (protected)' };

/** Stateless Streamable HTTP: no session ids, JSON responses; one per request (it cannot be reused). */
export const httpTransport = () => new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });

/** One JSON-RPC message per line on `input`, answers on `output`. */
export const stdioTransport = (input: Readable, output: Writable) => new StdioServerTransport(input, output);

/**
 * Builds the SDK server for one HTTP request or one stdio session. The SDK speaks the protocol
 * (initialize, ping, JSON-RPC framing, the shape of a tools/call request and result); the gate
 * (pipeline/gate.ts) decides everything else before a message gets here. Hence the SDK's
 * low-level Server ("for advanced use cases") rather than McpServer, which would look the tool up
 * and parse its arguments again: the gate's parse is the only one.
 * - tools/list: the tools the gate lets the caller call, each with the SDK's JSON Schema of its
 *   strict input (the schema the gate checks against).
 * - tools/call: the call the gate approved, with the arguments it parsed, and nothing else. A
 *   handler that throws becomes a generic tool error plus an ERROR audit line. Handlers receive
 *   the identity and a request id, never the credential.
 */
export function createServerFactory(deps: ServerFactoryDeps): (s: SessionInfo) => Server {
  // Built once: the JSON Schema of a tool never changes while the process runs.
  const listing = new Map<string, Tool>([...deps.tools].map(([name, { def, input }]) => [name, {
    name,
    title: def.title,
    description: def.description,
    inputSchema: toJsonSchemaCompat(input, { strictUnions: true, pipeStrategy: 'input' }) as Tool['inputSchema'],
    ...(def.annotations ? { annotations: def.annotations } : {}),
    // What McpServer advertises for a tool registered with registerTool.
    execution: { taskSupport: 'forbidden' },
  }]));
  // One validator shared by every per-request server (building one per server doubles CPU per request).
  const jsonSchemaValidator = new AjvJsonSchemaValidator();

  return (s) => {
    // `listChanged` only when there are tools, as McpServer registers its tool capability.
    const tools = deps.visibleTools(s.identity).length > 0 ? { listChanged: true } : {};
    const server = new Server({ ...SERVER_INFO, version: deps.version }, { capabilities: { tools }, jsonSchemaValidator });
    server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: deps.visibleTools(s.identity).flatMap((t) => listing.get(t.def.name) ?? []) }));
    server.setRequestHandler(CallToolRequestSchema, async (_request, extra): Promise<CallToolResult> => {
      // Every tools/call passes the gate before the SDK sees it; the tool and the arguments come
      // from its approval, never from the request again. No approval: there is nothing to run.
      const call = s.approvedCall(extra.requestId);
      if (!call) throw new McpError(ErrorCode.InternalError, 'Internal error');
      const { def } = call.tool;
      try {
        return await def.handler(call.args, { identity: s.identity, requestId: call.requestId });
      } catch (err) {
        deps.audit.record({
          decision: 'ERROR', requestId: call.requestId, identity: s.identity, tool: def.name, method: 'tools/call',
          address: s.address, transport: s.transport, reason: `tool failed: ${err instanceof Error ? err.name : 'error'}`,
        });
        return { content: [{ type: 'text', text: `The tool failed unexpectedly (request id ${call.requestId}).` }], isError: true };
      }
    });
    return server;
  };
}
