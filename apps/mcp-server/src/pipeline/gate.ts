import { createHash } from 'node:crypto';
import { z } from 'zod';
import { isJsonContentType, parseJSONRPCMessage, type JSONRPCMessage, type JSONRPCNotification, type JSONRPCRequest, type RequestId } from '@modelcontextprotocol/server';
import { OAuthError, insufficientScope } from '@stack/oauth';
import { StoreUnavailableError } from '@stack/redis';
import type { Identity } from '@stack/mcp-auth';
import { inSpan, type Span, type Tracer } from '@stack/telemetry';
import type { ToolDefinition } from '../tools/types.ts';
import type { Policy, ToolRule } from '../policy.ts';
import type { RateLimits } from './rate-limit.ts';
import type { Auditor } from './audit.ts';
import { accessDeniedText, authorizeRule, authorizeTool, type ToolDecision } from './authorize.ts';
import { classifyHttpMessage, classifyStdioMessage, type McpHeaders, type ProtocolEra } from './protocol-era.ts';

/**
 * A tool with its strict input schema (unknown keys refused), built once at start. This schema is
 * the only one arguments are checked against: here in the gate, never again by the SDK or the tool.
 */
export interface PreparedTool {
  def: ToolDefinition;
  input: z.ZodObject;
  /** What tools/list shows, when it is not derived from `input` (an upstream's own entry, passed on). */
  listing?: Record<string, unknown> & { name: string };
}

export function prepareTool(def: ToolDefinition): PreparedTool {
  return { def, input: z.strictObject(def.inputSchema) };
}

export function prepareTools(defs: readonly ToolDefinition[]): ReadonlyMap<string, PreparedTool> {
  return new Map(defs.map((def) => [def.name, prepareTool(def)]));
}

export interface GateContext {
  policy: () => Policy;
  limits: RateLimits;
  audit: Auditor;
  tools: ReadonlyMap<string, PreparedTool>;
  /** The protected server this gate guards, on a gateway path: named in audit lines and per-tool limits. */
  server?: string;
  /**
   * A gateway server's rules for resources/read (by URI) and prompts/get (by name): the rule, or
   * undefined when the file denies it (not named, default deny). Without it (the built-in server)
   * those requests reach the SDK ungated, which answers them as it always has.
   */
  itemRule?: (kind: ItemKind, key: string) => ToolRule | undefined;
}

/** What a gateway server serves besides tools, under rules of its own. */
export type ItemKind = 'resources' | 'prompts';

export interface CallMeta {
  identity: Identity;
  requestId: string;
  address?: string | undefined;
  transport: 'http' | 'stdio';
  /** With tracing on: the gate runs in an `mcp.policy` span, the rate limit check in `mcp.rate_limit`. */
  tracer?: Tracer | undefined;
}

/** A tools/call the gate let through: the tool and its arguments as the gate parsed them. */
export interface ApprovedToolCall {
  tool: PreparedTool;
  args: Record<string, unknown>;
  /** The request id of the gate's audit line, passed on to the tool. */
  requestId: string;
}

/** A resources/read or prompts/get the gate let through, with the params to send upstream. */
export interface ApprovedItem {
  kind: ItemKind;
  /** The URI or prompt name the rule was found for. */
  key: string;
  params: { uri: string } | { name: string; arguments?: Record<string, unknown> };
  requestId: string;
}

export type ApprovedCall = ApprovedToolCall | ApprovedItem;

/**
 * Either let the SDK handle the message (a tools/call with the call to run), or answer it here
 * (status is the HTTP status to use).
 */
export type GateResult =
  | { kind: 'proceed'; era?: ProtocolEra; call?: ApprovedCall }
  | { kind: 'respond'; status: number; message: JSONRPCMessage };

const rpcError = (id: RequestId | null, code: number, message: string, status = 200, data?: unknown): GateResult => ({
  kind: 'respond',
  status,
  message: { jsonrpc: '2.0', id, error: { code, message, ...(data !== undefined ? { data } : {}) } } as unknown as JSONRPCMessage,
});

/** The id of a request refused as malformed, when it can be read (JSON-RPC 2.0 §5: else null). */
const readableId = (body: unknown): RequestId | null => {
  const id = typeof body === 'object' && body !== null ? (body as { id?: unknown }).id : undefined;
  return typeof id === 'string' || (typeof id === 'number' && Number.isSafeInteger(id)) ? id : null;
};

/**
 * What a body is under the SDK's (strict) JSON-RPC schemas, checked once: a request has a method
 * and an id, a notification a method and no id, anything else valid is a response. One parse
 * instead of a schema check per question asked of it.
 */
const messageKind = (body: unknown): 'request' | 'notification' | 'response' | undefined => {
  try {
    parseJSONRPCMessage(body);
  } catch {
    return undefined;
  }
  const m = body as Record<string, unknown>;
  return !('method' in m) ? 'response' : 'id' in m ? 'request' : 'notification';
};

/** A tool result refusing the call; 2026-07-28 results name their kind (`resultType`), earlier ones do not. */
const toolError = (id: RequestId, text: string, era: ProtocolEra | undefined): GateResult => ({
  kind: 'respond',
  status: 200,
  message: { jsonrpc: '2.0', id, result: { content: [{ type: 'text', text }], isError: true, ...(era === 'modern' ? { resultType: 'complete' } : {}) } },
});

function describeIssues(error: z.ZodError): string {
  return error.issues.slice(0, 5).map((i) => {
    if (i.code === 'unrecognized_keys') return `unknown argument ${i.keys.map((k) => `'${k.slice(0, 64)}'`).join(', ')}`;
    return `invalid argument '${i.path.join('.') || '(arguments)'}': ${i.message.toLowerCase()}`;
  }).join('; ');
}

/** Parses a call's arguments with the tool's strict schema; `reason` names what is wrong, never a value. */
export function parseArguments(tool: PreparedTool, args: unknown): { ok: true; args: Record<string, unknown> } | { ok: false; reason: string } {
  const parsed = tool.input.safeParse(args ?? {});
  return parsed.success ? { ok: true, args: parsed.data } : { ok: false, reason: describeIssues(parsed.error) };
}

// Our own refusal of a resource or prompt the caller's role may not have: no step-up could help
// (JSON-RPC 2.0 leaves -32000..-32099 to the implementation; -32001/-32002 are the upstream's faults).
const ACCESS_DENIED = -32003;
const MAX_URI = 2048;

type ItemRequest = { kind: ItemKind; key: string; params: ApprovedItem['params']; args?: unknown } | { invalid: string };

/** The URI of a resources/read, or the name and arguments of a prompts/get; undefined for other methods. */
function itemRequest(method: string, params: Record<string, unknown>): ItemRequest | undefined {
  if (method === 'resources/read') {
    const { uri } = params;
    if (typeof uri !== 'string' || uri.length === 0) return { invalid: "missing resource 'uri'" };
    if (uri.length > MAX_URI) return { invalid: `resource 'uri' longer than ${MAX_URI} characters` };
    return { kind: 'resources', key: uri, params: { uri } };
  }
  if (method === 'prompts/get') {
    const { name, arguments: args } = params;
    if (typeof name !== 'string' || name.length === 0) return { invalid: "missing prompt 'name'" };
    if (args !== undefined && (typeof args !== 'object' || args === null || Array.isArray(args))) return { invalid: "prompt 'arguments' must be an object" };
    return { kind: 'prompts', key: name, params: { name, ...(args ? { arguments: args as Record<string, unknown> } : {}) }, args };
  }
  return undefined;
}

/** A per-item counter name: the server and the item, long URIs hashed so a key stays short. */
const itemLimitName = (server: string, kind: ItemKind, key: string) =>
  `${server}/${kind === 'resources' ? 'resource' : 'prompt'}:${key.length <= 200 ? key : `sha256:${createHash('sha256').update(key).digest('hex')}`}`;

/** The tools `identity` may call under the current policy: all tools/list shows. */
export function visibleTools(ctx: GateContext, identity: Identity): PreparedTool[] {
  const policy = ctx.policy();
  return [...ctx.tools.values()].filter((t) => authorizeTool(policy, identity, t.def.name).allow);
}

/**
 * The pipeline steps after authentication, for one JSON-RPC message on any transport:
 * shape check, rate limit (identity, then tool), authorization (role, then scopes) and input
 * validation, each decision audited. This is the one place a call is authorized and its
 * arguments checked: what passes comes back as an ApprovedCall, which is all the SDK layer runs.
 * Throws OAuthError for 429 and 403 so HTTP can answer with the right status and challenge;
 * stdio turns those into JSON-RPC errors. On HTTP, `headers` are the request's MCP headers: the
 * message's protocol revision is decided from them and the body (pipeline/protocol-era.ts).
 */
export function gateMessage(body: unknown, meta: CallMeta, ctx: GateContext, headers?: McpHeaders): Promise<GateResult> {
  if (!meta.tracer) return gate(body, meta, ctx, headers, undefined);
  return inSpan(meta.tracer, 'mcp.policy', ctx.server ? { 'mcp.server': ctx.server } : undefined, (span) => gate(body, meta, ctx, headers, span));
}

// The MCP methods a span may name; anything else a caller sends is 'other' (span attributes stay bounded).
const TRACED_METHODS = new Set(['initialize', 'ping', 'tools/list', 'tools/call', 'resources/list', 'resources/templates/list', 'resources/read', 'prompts/list', 'prompts/get', 'server/discover']);

/** What the policy span records of a decision: the decision, the method and a tool the catalogue knows; never arguments. */
function recordDecision(span: Span, ctx: GateContext, decision: string, extra: Parameters<AuditFn>[2]): void {
  span.setAttribute('mcp.decision', decision);
  if (extra?.method) span.setAttribute('rpc.method', TRACED_METHODS.has(extra.method) ? extra.method : 'other');
  if (extra?.tool && ctx.tools.has(extra.tool)) span.setAttribute('mcp.tool.name', extra.tool);
}

async function gate(body: unknown, meta: CallMeta, ctx: GateContext, headers: McpHeaders | undefined, span: Span | undefined): Promise<GateResult> {
  const audit: AuditFn = (decision, reason, extra = {}) => {
    if (span) recordDecision(span, ctx, decision, extra);
    ctx.audit.record({ decision, reason, requestId: meta.requestId, identity: meta.identity, address: meta.address, transport: meta.transport, server: ctx.server, ...extra });
  };

  // Streamable HTTP carries JSON only (both revisions); a text body that parsed as a string is not one.
  if (headers && !isJsonContentType(headers.contentType ?? null)) {
    audit('DENIED', 'protocol: Content-Type must be application/json');
    return rpcError(readableId(body), -32000, 'Unsupported Media Type: Content-Type must be application/json', 415);
  }
  // JSON-RPC batching was removed from MCP in 2025-06-18; one message per request keeps every call gated.
  if (Array.isArray(body)) {
    audit('DENIED', 'batch requests are not supported');
    return rpcError(null, -32600, 'Invalid Request: batch requests are not supported', 400);
  }
  const kind = messageKind(body);
  if (!kind) {
    audit('DENIED', 'not a JSON-RPC 2.0 message');
    return rpcError(readableId(body), -32600, 'Invalid Request: not a JSON-RPC 2.0 message', 400);
  }
  let era: ProtocolEra | undefined;
  if (kind !== 'response') {
    const message = body as JSONRPCRequest | JSONRPCNotification;
    const c = headers ? classifyHttpMessage(message, headers) : classifyStdioMessage(message);
    if ('reason' in c) {
      audit('DENIED', c.reason, { method: message.method.slice(0, 64) });
      return rpcError(kind === 'request' ? (message as JSONRPCRequest).id : null, c.code, c.message, c.status, c.data);
    }
    era = c.era;
  }
  // Notifications and responses carry no work to authorize.
  if (kind !== 'request') return { kind: 'proceed', ...(era ? { era } : {}) };
  const request = body as JSONRPCRequest;
  const { id, method } = request;
  // A change feed for lists that never change (listChanged: false) would only hold a stream open.
  if (era === 'modern' && method === 'subscriptions/listen') {
    audit('DENIED', 'protocol: subscriptions/listen is not served', { method });
    return rpcError(id, -32601, 'Method not found', 404);
  }
  const item = ctx.itemRule ? itemRequest(method, request.params ?? {}) : undefined;
  if (item) return gateItem(item, id, method, era, meta, ctx, audit);
  const isCall = method === 'tools/call';
  const params = (request.params ?? {}) as { name?: unknown; arguments?: unknown };
  const name = isCall && typeof params.name === 'string' ? params.name : undefined;
  if (isCall && name === undefined) {
    audit('INVALID_INPUT', "missing tool 'name'", { method });
    return rpcError(id, -32602, "Invalid params: missing tool 'name'");
  }
  const policy = ctx.policy();
  const rule = name !== undefined && Object.hasOwn(policy.tools, name) ? policy.tools[name] : undefined;

  // Per identity across every server, then per identity, server and tool.
  const limitName = ctx.server ? `${ctx.server}/${name ?? ''}` : name;
  await countRequest(ctx, meta, name !== undefined && rule ? { name: limitName!, perMinute: rule.ratePerMinute } : undefined, audit, { method, tool: name });
  if (!isCall || name === undefined) return { kind: 'proceed', ...(era ? { era } : {}) };

  const args = params.arguments;
  const prepared = ctx.tools.get(name);
  const decision: ToolDecision = prepared ? authorizeTool(policy, meta.identity, name) : { allow: false, kind: 'unknown_tool' };
  if (!prepared || (!decision.allow && decision.kind === 'unknown_tool')) {
    audit('DENIED', 'unknown tool', { method, tool: name });
    return rpcError(id, -32602, `Invalid params: unknown tool '${name.slice(0, 64)}'`);
  }
  if (!decision.allow) {
    if (decision.kind === 'role') {
      audit('DENIED', `role '${meta.identity.role}' may not call this tool`, { method, tool: name, args });
      return toolError(id, accessDeniedText(name, decision.rule, meta.identity), era);
    }
    audit('DENIED', `insufficient scope: needs ${decision.rule.scopes.join(' ')}`, { method, tool: name, args });
    // MCP step-up: one challenge naming every scope the call needs, not only the missing ones.
    throw insufficientScope(`tool '${name}' requires scope '${decision.rule.scopes.join(' ')}'`, { scope: decision.rule.scopes.join(' ') });
  }
  const parsed = parseArguments(prepared, args);
  if (!parsed.ok) {
    audit('INVALID_INPUT', parsed.reason, { method, tool: name, args });
    return toolError(id, `Invalid arguments for tool ${name}: ${parsed.reason}`, era);
  }
  audit('ALLOWED', 'role and scopes permit the call', { method, tool: name, args });
  return { kind: 'proceed', ...(era ? { era } : {}), call: { tool: prepared, args: parsed.args, requestId: meta.requestId } };
}

type AuditFn = (
  decision: Parameters<Auditor['record']>[0]['decision'],
  reason: string,
  extra?: { method?: string; tool?: string; resource?: string; prompt?: string; args?: unknown },
) => void;

/** Counts the request against the caller's limits; a refusal is audited and thrown (429, or 503 without the store). */
async function countRequest(ctx: GateContext, meta: CallMeta, item: { name: string; perMinute: number | undefined } | undefined, audit: AuditFn, what: Parameters<AuditFn>[2]): Promise<void> {
  try {
    const key = `${meta.identity.kind}:${meta.identity.subject}`;
    await (meta.tracer ? inSpan(meta.tracer, 'mcp.rate_limit', undefined, () => ctx.limits.check(key, item)) : ctx.limits.check(key, item));
  } catch (err) {
    if (err instanceof OAuthError && err.code === 'rate_limited') audit('RATE_LIMITED', `rate limit exceeded, retry after ${err.retryAfter ?? 60} s`, what);
    // The shared counter store (Redis) did not answer: refused (503), never allowed uncounted.
    else if (err instanceof StoreUnavailableError) audit('ERROR', 'rate limit store unavailable', what);
    throw err;
  }
}

/**
 * resources/read and prompts/get on a gateway server, gated as tools/call is: rate limit
 * (identity, then identity, server and item), role, then scopes (403 step-up naming the scopes
 * the rule needs), each decision audited with the URI or prompt name. What the file denies is
 * answered as if it did not exist, as it is not listed either.
 */
async function gateItem(item: ItemRequest, id: RequestId, method: string, era: ProtocolEra | undefined, meta: CallMeta, ctx: GateContext, audit: AuditFn): Promise<GateResult> {
  if ('invalid' in item) {
    audit('INVALID_INPUT', item.invalid, { method });
    return rpcError(id, -32602, `Invalid params: ${item.invalid}`);
  }
  const isResource = item.kind === 'resources';
  const what = { method, ...(isResource ? { resource: item.key } : { prompt: item.key, args: item.args }) };
  const shown = isResource ? `resource '${item.key.slice(0, 256)}'` : `prompt '${item.key.slice(0, 64)}'`;
  const rule = ctx.itemRule!(item.kind, item.key);
  await countRequest(ctx, meta, rule ? { name: itemLimitName(ctx.server ?? '', item.kind, item.key), perMinute: rule.ratePerMinute } : undefined, audit, what);
  const decision = authorizeRule(rule, ctx.policy(), meta.identity);
  if (!decision.allow && decision.kind === 'unknown_tool') {
    audit('DENIED', `unknown ${isResource ? 'resource' : 'prompt'}`, what);
    // A resource in the shape of the SDK's ResourceNotFoundError (-32602 with data { uri }).
    return isResource ? rpcError(id, -32602, `Resource not found: ${item.key.slice(0, 256)}`, 200, { uri: item.key }) : rpcError(id, -32602, `Invalid params: unknown ${shown}`);
  }
  if (!decision.allow) {
    if (decision.kind === 'role') {
      audit('DENIED', `role '${meta.identity.role}' may not ${isResource ? 'read this resource' : 'get this prompt'}`, what);
      return rpcError(id, ACCESS_DENIED, `Access denied: ${shown} requires role ${decision.rule.roles.join(' or ')}; your role is ${meta.identity.role}`);
    }
    audit('DENIED', `insufficient scope: needs ${decision.rule.scopes.join(' ')}`, what);
    throw insufficientScope(`${shown} requires scope '${decision.rule.scopes.join(' ')}'`, { scope: decision.rule.scopes.join(' ') });
  }
  audit('ALLOWED', 'role and scopes permit the request', what);
  return { kind: 'proceed', ...(era ? { era } : {}), call: { kind: item.kind, key: item.key, params: item.params, requestId: meta.requestId } };
}
