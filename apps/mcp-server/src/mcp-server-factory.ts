// The one file that uses the MCP SDK's server API (server, transports, schema conversion): the
// rest of the app sees the gate's decisions and plain tool definitions.
import { inSpan, type Tracer } from '@stack/telemetry';
import type { Readable, Writable } from 'node:stream';
import { z } from 'zod';
import {
  isInputRequiredResult, ProtocolError, ProtocolErrorCode, Server,
  type CallToolResult, type GetPromptResult, type InputRequiredResult, type JSONRPCMessage, type JSONRPCRequest, type ListPromptsResult, type ListResourcesResult,
  type ListResourceTemplatesResult, type ReadResourceResult, type RequestId, type ServerContext, type Tool, type Transport,
} from '@modelcontextprotocol/server';
import { serveStdio, StdioServerTransport, type StdioServerHandle } from '@modelcontextprotocol/server/stdio';
import type { Identity } from '@stack/mcp-auth';
import type { Auditor } from './pipeline/audit.ts';
import type { ApprovedCall, ApprovedItem, PreparedTool } from './pipeline/gate.ts';
import type { ProtocolEra } from './pipeline/protocol-era.ts';

export interface ServerFactoryDeps {
  tools: ReadonlyMap<string, PreparedTool>;
  /** What tools/list shows: the tools the gate lets `identity` call, under the current policy. */
  visibleTools(identity: Identity): readonly PreparedTool[];
  audit: Auditor;
  version: string;
  /** How long a 2026-07-28 client may reuse a tools/list or server/discover result. */
  listTtlMs: number;
  /** Name and title this server gives itself (default: the database tools'). */
  serverInfo?: { name: string; title: string };
  /** The stack file's name for the server, on a gateway path: named in audit lines. */
  server?: string;
  /** A gateway server's resources and prompts (the built-in server has none). */
  items?: GatewayItems;
  /** With tracing on: each tools/call runs in an `mcp.tool` span. */
  tracer?: Tracer | undefined;
}

/** What a gateway server passes on from its upstream besides tools, under the stack file's rules. */
export interface GatewayItems {
  /** resources/list, resources/templates/list or prompts/list: the upstream's entries `identity` may use. */
  list(kind: 'resources' | 'resourceTemplates' | 'prompts', identity: Identity): Promise<Record<string, unknown>[]>;
  /** Sends an approved resources/read or prompts/get upstream for `identity`; an error comes back in our words. */
  forward(item: ApprovedItem, identity: Identity): Promise<{ result: unknown } | { error: { code: number; message: string } }>;
}

export interface SessionInfo {
  identity: Identity;
  transport: 'http' | 'stdio';
  address?: string | undefined;
  /** The call the gate approved for this JSON-RPC request id, its arguments already parsed. */
  approvedCall(rpcId: RequestId): ApprovedCall | undefined;
}

const SERVER_INFO = { name: 'mcp-oauth-stack-db', title: 'Database tools (protected)' };

/** The `mcp.tool` span's attributes: the tool (a name the gate found in the catalogue) and the gateway server. */
const toolAttributes = (tool: string, server: string | undefined) => ({ 'mcp.tool.name': tool, ...(server ? { 'mcp.server': server } : {}) });

/** A tool failure whose message is meant for the caller (an upstream's refusal, in our words); anything else stays generic. */
export class ToolFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ToolFailure';
  }
}

/**
 * Who sent the request with this JSON-RPC id (as the SDK server sees it). A stdio connection has
 * one caller for its whole life; the shared HTTP servers serve many callers at once, each request
 * under an id of its own (see SharedChannel).
 */
export type SessionSource = (rpcId: RequestId) => SessionInfo | undefined;

/** One JSON-RPC message per line on `input`, answers on `output`. */
export const stdioTransport = (input: Readable, output: Writable) => new StdioServerTransport(input, output);

/**
 * Serves one stdio connection on `transport`, in the revision its first message speaks. The SDK
 * sets `transport.onmessage` before this returns and reads nothing until the transport's input
 * flows, so the caller can put its gate in front of that handler.
 */
export const serveStdioServer = (newServer: () => Server, transport: StdioServerTransport, onerror: (err: Error) => void): StdioServerHandle =>
  serveStdio(() => newServer(), { transport, onerror });

/**
 * Builds the SDK server for one HTTP request or one stdio session. The SDK speaks the protocol
 * (initialize, server/discover, the 2026-07-28 envelope and headers, JSON-RPC framing, the shape of
 * a tools/call request and result); the gate (pipeline/gate.ts) decides everything else before a
 * message gets here. Hence the SDK's low-level Server rather than McpServer, which would look the
 * tool up and parse its arguments again: the gate's parse is the only one.
 * - tools/list: the tools the gate lets the caller call, each with the JSON Schema of its strict
 *   input (the schema the gate checks against). The list differs per caller, so a 2026-07-28
 *   client is told it may cache it only for this caller (cacheScope private).
 * - tools/call: the call the gate approved, with the arguments it parsed, and nothing else. A
 *   handler that throws becomes a generic tool error plus an ERROR audit line. Handlers receive
 *   the identity and a request id, never the credential.
 * - prompts and resources: always declared. The built-in server answers empty lists, so a client
 *   that asks gets an answer (with cache hints) rather than "method not found". A gateway server
 *   (`items`) lists the upstream's entries the caller may use and passes on a resources/read or
 *   prompts/get the gate approved. Declared even when the upstream offers none: the capabilities
 *   are answered at initialize (or server/discover, cached by the client) before the upstream
 *   may have started, and must not change when it restarts with other ones; an empty list is what
 *   clients already handle for a server with nothing to offer.
 */
export function createServerFactory(deps: ServerFactoryDeps): (sessions: SessionSource) => Server {
  // Built once for the local tools: their JSON Schema never changes while the process runs. An
  // upstream's tools carry their own entry (PreparedTool.listing).
  const listing = new Map<string, Tool>([...deps.tools].map(([name, { def, input }]) => [name, {
    name,
    title: def.title,
    description: def.description,
    inputSchema: z.toJSONSchema(input, { target: 'draft-2020-12', io: 'input' }) as Tool['inputSchema'],
    ...(def.annotations ? { annotations: def.annotations } : {}),
    execution: { taskSupport: 'forbidden' },
  }]));
  const hint = { ttlMs: deps.listTtlMs, cacheScope: 'private' as const };
  const capabilities = { tools: { listChanged: false }, prompts: { listChanged: false }, resources: { listChanged: false } };

  const info = { ...SERVER_INFO, ...deps.serverInfo };
  return (sessions) => {
    const sessionOf = (ctx: ServerContext): SessionInfo => {
      const s = sessions(ctx.mcpReq.id);
      // Unreachable by construction (every request reaching a handler came through an exchange
      // that named its caller); refuse rather than answer for nobody.
      if (!s) throw new ProtocolError(ProtocolErrorCode.InternalError, 'Internal error');
      return s;
    };
    const server = new Server({ ...info, version: deps.version }, {
      capabilities,
      // 2026-07-28 only (2025 replies carry no hints). Every list here is behind authentication and
      // tools/list is filtered per caller: nothing is `public`.
      cacheHints: { 'tools/list': hint, 'server/discover': hint, 'prompts/list': hint, 'resources/list': hint, 'resources/templates/list': hint },
    });
    server.setRequestHandler('tools/list', (_request, ctx) => ({
      tools: deps.visibleTools(sessionOf(ctx).identity).flatMap((t) => (t.listing as Tool | undefined) ?? listing.get(t.def.name) ?? []),
    }));
    const { items } = deps;
    if (items) {
      const forward = async (kind: ApprovedItem['kind'], ctx: ServerContext): Promise<unknown> => {
        const s = sessionOf(ctx);
        // As for tools/call: only what the gate approved for this request goes upstream.
        const item = s.approvedCall(ctx.mcpReq.id);
        if (!item || !('kind' in item) || item.kind !== kind) throw new ProtocolError(ProtocolErrorCode.InternalError, 'Internal error');
        const out = await items.forward(item, s.identity);
        if (!('error' in out)) return out.result;
        deps.audit.record({
          decision: 'ERROR', requestId: item.requestId, identity: s.identity, method: ctx.mcpReq.method, server: deps.server,
          ...(kind === 'resources' ? { resource: item.key } : { prompt: item.key }), address: s.address, transport: s.transport, reason: `upstream failed: ${out.error.message.slice(0, 200)}`,
        });
        throw new ProtocolError(out.error.code, `${out.error.message} (request id ${item.requestId}).`);
      };
      server.setRequestHandler('resources/list', async (_r, ctx) => ({ resources: await items.list('resources', sessionOf(ctx).identity) as ListResourcesResult['resources'] }));
      server.setRequestHandler('resources/templates/list', async (_r, ctx) => ({ resourceTemplates: await items.list('resourceTemplates', sessionOf(ctx).identity) as ListResourceTemplatesResult['resourceTemplates'] }));
      server.setRequestHandler('prompts/list', async (_r, ctx) => ({ prompts: await items.list('prompts', sessionOf(ctx).identity) as ListPromptsResult['prompts'] }));
      server.setRequestHandler('resources/read', async (_r, ctx) => await forward('resources', ctx) as ReadResourceResult);
      server.setRequestHandler('prompts/get', async (_r, ctx) => await forward('prompts', ctx) as GetPromptResult);
    } else {
      server.setRequestHandler('prompts/list', () => ({ prompts: [] }));
      server.setRequestHandler('resources/list', () => ({ resources: [] }));
      server.setRequestHandler('resources/templates/list', () => ({ resourceTemplates: [] }));
    }
    server.setRequestHandler('tools/call', async (_request, ctx): Promise<CallToolResult | InputRequiredResult> => {
      const s = sessionOf(ctx);
      // Every tools/call passes the gate before the SDK sees it; the tool and the arguments come
      // from its approval, never from the request again. No approval: there is nothing to run.
      const call = s.approvedCall(ctx.mcpReq.id);
      if (!call || !('tool' in call)) throw new ProtocolError(ProtocolErrorCode.InternalError, 'Internal error');
      const { def } = call.tool;
      try {
        const result: CallToolResult | InputRequiredResult = await inSpan(deps.tracer, 'mcp.tool', deps.tracer && toolAttributes(def.name, deps.server), () => def.handler(call.args, { identity: s.identity, requestId: call.requestId }));
        // On 2026-07-28 a tool may ask the client for input (sampling, elicitation) instead of
        // answering; that goes out as it is, and the SDK checks the client declared the capability.
        return isInputRequiredResult(result) ? result : server.projectCallToolResult(result, undefined);
      } catch (err) {
        deps.audit.record({
          decision: 'ERROR', requestId: call.requestId, identity: s.identity, tool: def.name, method: 'tools/call', server: deps.server,
          address: s.address, transport: s.transport, reason: err instanceof ToolFailure ? `tool failed: ${err.message.slice(0, 200)}` : `tool failed: ${err instanceof Error ? err.name : 'error'}`,
        });
        const text = err instanceof ToolFailure ? `${err.message} (request id ${call.requestId}).` : `The tool failed unexpectedly (request id ${call.requestId}).`;
        return { content: [{ type: 'text', text }], isError: true };
      }
    });
    return server;
  };
}

/**
 * A transport that hands one long-lived SDK server the HTTP requests of every caller of one
 * revision. Stateless HTTP has no connection to tie messages together, so each request gets an
 * internal JSON-RPC id (callers' own ids collide: every client starts at 0 or 1) under which its
 * caller is known to the handlers (SessionSource), and its answer is routed back by that id with
 * the caller's id restored. Notifications the server emits mid-call have no stream to go to on a
 * JSON answer and are dropped, as the SDK's JSON response mode does.
 */
class SharedChannel implements Transport {
  onmessage?: Transport['onmessage'];
  onclose?: () => void;
  onerror?: (error: Error) => void;
  private readonly waiting = new Map<number, { session: SessionInfo; deliver: (answer: JSONRPCMessage) => void }>();
  constructor(private readonly ids: { next: number }) {}

  readonly sessions: SessionSource = (rpcId) => (typeof rpcId === 'number' ? this.waiting.get(rpcId)?.session : undefined);

  async start(): Promise<void> {}
  async close(): Promise<void> {
    this.waiting.clear();
    this.onclose?.();
  }
  async send(message: JSONRPCMessage): Promise<void> {
    if ('method' in message || !('id' in message) || typeof message.id !== 'number') return;
    const waiter = this.waiting.get(message.id);
    this.waiting.delete(message.id);
    waiter?.deliver(message);
  }

  /** Serves one request; resolves with its answer, or undefined when `signal` aborts first. */
  exchange(request: JSONRPCRequest, session: SessionInfo, signal: AbortSignal): Promise<JSONRPCMessage | undefined> {
    const id = ++this.ids.next;
    return new Promise((resolve) => {
      const onAbort = () => {
        if (!this.waiting.delete(id)) return;
        // The handler is told through the protocol's own cancellation, as a client would.
        this.onmessage?.({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: 'client disconnected' } });
        resolve(undefined);
      };
      this.waiting.set(id, {
        session,
        deliver: (answer) => {
          signal.removeEventListener('abort', onAbort);
          resolve({ ...answer, id: request.id });
        },
      });
      signal.addEventListener('abort', onAbort, { once: true });
      this.onmessage?.({ ...request, id });
    });
  }
}

/** One gated HTTP message for the SDK: who sent it, what the gate approved, and its revision. */
export interface HttpExchange {
  session: SessionInfo;
  era: ProtocolEra;
  body: unknown;
  /** Aborts when the client goes away. */
  signal: AbortSignal;
}

/** What to write back: a JSON-RPC message (JSON), or nothing (`message` undefined). */
export interface HttpAnswer {
  status: number;
  message?: JSONRPCMessage | undefined;
}

export interface McpHttpServer {
  /** Serves one message the gate let through. */
  serve(exchange: HttpExchange): Promise<HttpAnswer>;
  close(): Promise<void>;
}

const MODERN_ERROR_STATUS = new Map<number, number>([
  [ProtocolErrorCode.ParseError, 400],
  [ProtocolErrorCode.InvalidRequest, 400],
  [ProtocolErrorCode.MethodNotFound, 404],
  [ProtocolErrorCode.UnsupportedProtocolVersion, 400],
  [ProtocolErrorCode.MissingRequiredClientCapability, 400],
  [-32020, 400], // HeaderMismatch
]);

/**
 * Stateless Streamable HTTP for both revisions, on one shared SDK server per revision.
 * Building an SDK server, a transport and the web Request/Response pair for every request cost
 * more than the rest of a tools/call; a shared server costs a map entry. The HTTP-level checks the
 * SDK's HTTP entry points would make (Content-Type, Accept, MCP-Protocol-Version, the 2026-07-28
 * envelope and the Mcp-* headers) are made before the gate (pipeline/protocol-era.ts), so what
 * reaches here is a well-formed request of a revision we serve.
 * - 2026-07-28: the SDK's connection entry (serveStdio, which takes any transport) pins the shared
 *   channel to that revision and checks each request's envelope, as on a stdio connection.
 * - 2025-11-25 and older: a server connected to its channel. `initialize` gets a server of its own,
 *   so one client's handshake never changes what the shared server believes about the others.
 * The caller's identity reaches the handlers through the channel (SessionSource), never the credential.
 */
export function createMcpHttpServer(newServer: (sessions: SessionSource) => Server, onerror: (err: Error) => void): McpHttpServer {
  const ids = { next: 0 };
  let legacy: { channel: SharedChannel; server: Server; ready: Promise<void> } | undefined;
  let modern: { channel: SharedChannel; handle: StdioServerHandle } | undefined;
  let closed = false;

  // Built on first use, and again if the SDK ever closes one (it then answers nothing more).
  const legacyServer = () => {
    if (!legacy) {
      const channel = new SharedChannel(ids);
      const server = newServer(channel.sessions);
      channel.onerror = onerror;
      channel.onclose = () => { if (legacy?.channel === channel) legacy = undefined; };
      legacy = { channel, server, ready: server.connect(channel) };
    }
    return legacy;
  };
  const modernServer = () => {
    if (!modern) {
      const channel = new SharedChannel(ids);
      const handle = serveStdio(() => newServer(channel.sessions), { transport: channel, legacy: 'reject', onerror });
      channel.onclose = () => { if (modern?.channel === channel) modern = undefined; };
      modern = { channel, handle };
    }
    return modern;
  };

  async function initialize(x: HttpExchange & { body: JSONRPCRequest }): Promise<HttpAnswer> {
    const channel = new SharedChannel(ids);
    const server = newServer(channel.sessions);
    await server.connect(channel);
    try {
      return answer(await channel.exchange(x.body, x.session, x.signal));
    } finally {
      void server.close().catch(() => {});
    }
  }
  // undefined: the client went away, there is no one to answer.
  const answer = (message: JSONRPCMessage | undefined): HttpAnswer => ({ status: message ? 200 : 499, message });
  // 2026-07-28 Streamable HTTP: the errors the protocol layer answers before any handler runs carry
  // an HTTP status of their own (a removed or unknown method is a 404); what a handler answers,
  // error or not, is a 200 with the JSON-RPC response as its payload.
  const modernAnswer = (message: JSONRPCMessage | undefined): HttpAnswer => {
    const code = message && 'error' in message ? message.error.code : undefined;
    return code === undefined ? answer(message) : { status: MODERN_ERROR_STATUS.get(code) ?? 200, message };
  };

  return {
    async serve(x) {
      if (closed) throw new Error('the MCP HTTP server is closed');
      // Notifications and a client's responses have no work for a stateless server. The gate has
      // checked the body against the JSON-RPC schemas: a message with a method and an id is a request.
      const body = x.body as Record<string, unknown>;
      if (!('method' in body && 'id' in body)) return { status: 202 };
      const request = x.body as JSONRPCRequest;
      if (x.era === 'modern') return modernAnswer(await modernServer().channel.exchange(request, x.session, x.signal));
      if (request.method === 'initialize') return initialize({ ...x, body: request });
      const shared = legacyServer();
      await shared.ready;
      return answer(await shared.channel.exchange(request, x.session, x.signal));
    },
    async close() {
      closed = true;
      await modern?.handle.close();
      await legacy?.server.close();
    },
  };
}
