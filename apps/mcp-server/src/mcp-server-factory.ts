import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { AjvJsonSchemaValidator } from '@modelcontextprotocol/sdk/validation/ajv';
import { ListToolsRequestSchema, type CallToolResult, type RequestId } from '@modelcontextprotocol/sdk/types.js';
import type { Identity } from '@stack/mcp-auth';
import type { Policy } from './policy.ts';
import type { Auditor } from './pipeline/audit.ts';
import { mayCall } from './pipeline/authorize.ts';
import type { PreparedTool } from './pipeline/gate.ts';

export interface ServerFactoryDeps {
  tools: ReadonlyMap<string, PreparedTool>;
  policy: () => Policy;
  audit: Auditor;
  /** One validator shared by every per-request server (building one per server doubles CPU per request). */
  validator: AjvJsonSchemaValidator;
  version: string;
}

export interface SessionInfo {
  identity: Identity;
  transport: 'http' | 'stdio';
  address?: string | undefined;
  /** The request id used in audit lines for the JSON-RPC request being handled. */
  requestId(rpcId: RequestId): string;
}

const SERVER_INFO = { name: 'mcp-oauth-stack-db', title: 'Database tools (protected)' };

/**
 * Builds an McpServer exposing only the tools this caller may call (tools/list is filtered by
 * role and scopes). Handlers receive the identity and a request id, never the credential, and a
 * handler that throws becomes a generic tool error plus an ERROR audit line.
 */
export function createServerFactory(deps: ServerFactoryDeps): (s: SessionInfo) => McpServer {
  return (s) => {
    const server = new McpServer({ ...SERVER_INFO, version: deps.version }, { jsonSchemaValidator: deps.validator });
    const policy = deps.policy();
    let registered = 0;
    for (const [name, { def, input }] of deps.tools) {
      if (!mayCall(policy, s.identity, name)) continue;
      registered++;
      server.registerTool(
        name,
        { title: def.title, description: def.description, inputSchema: input, ...(def.annotations ? { annotations: def.annotations } : {}) },
        async (args: unknown, extra): Promise<CallToolResult> => {
          const requestId = s.requestId(extra.requestId);
          try {
            return await def.handler(args, { identity: s.identity, requestId });
          } catch (err) {
            deps.audit.record({
              decision: 'ERROR', requestId, identity: s.identity, tool: name, method: 'tools/call',
              address: s.address, transport: s.transport, reason: `tool failed: ${err instanceof Error ? err.name : 'error'}`,
            });
            return { content: [{ type: 'text', text: `The tool failed unexpectedly (request id ${requestId}).` }], isError: true };
          }
        },
      );
    }
    if (registered === 0) {
      // A caller allowed no tool still gets a well-formed, empty tools/list.
      server.server.registerCapabilities({ tools: {} });
      server.server.setRequestHandler(ListToolsRequestSchema, () => ({ tools: [] }));
    }
    return server;
  };
}
