/**
 * What the gateway needs from an upstream MCP server, whatever carries it (Streamable HTTP or a
 * child process on stdio). Upstream faults (timeouts, dead processes, oversized or malformed
 * answers) come back as JSON-RPC error objects, never as exceptions, so one bad upstream cannot
 * break the caller's request handling.
 */
export interface Upstream {
  /** Sends one JSON-RPC request upstream; resolves with its result or error object. */
  request(method: string, params: unknown, opts?: CallOptions): Promise<RpcOutcome>;
  /** tools/list, every page (bounded), cached for `listTtlMs`. Empty when the upstream declares no tools. */
  listTools(opts?: CallOptions): Promise<ListItem[]>;
  /** resources/list likewise; empty when the upstream declares no resources. */
  listResources(opts?: CallOptions): Promise<ListItem[]>;
  /** resources/templates/list likewise; empty when the upstream declares no resources. */
  listResourceTemplates(opts?: CallOptions): Promise<ListItem[]>;
  /** prompts/list likewise; empty when the upstream declares no prompts. */
  listPrompts(opts?: CallOptions): Promise<ListItem[]>;
  health(): UpstreamHealth;
  /** Ends every connection and child process; requests still in flight get an error. */
  close(): Promise<void>;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Who the call is for: picks the child process under per-identity isolation; never sent upstream. */
  identityKey?: string;
}

export interface RpcError {
  code: number;
  message: string;
  data?: unknown;
}

export type RpcOutcome = { result: unknown } | { error: RpcError };

/** One entry of a tools/resources/resource templates/prompts list, as the upstream sent it. */
export type ListItem = Record<string, unknown> & { name: string };

export interface UpstreamHealth {
  state: 'starting' | 'up' | 'down';
  /** The last fault, in our words (configured header values never appear). */
  lastError?: string;
  /** Child processes restarted after an exit (stdio). */
  restarts?: number;
  /** Per-identity children running (stdio with isolation). */
  children?: number;
}

/** Limits shared by both kinds of upstream; each has a default and a hard cap. */
export interface UpstreamLimits {
  /** Name used in error messages and health (never a URL or command line, which may hold secrets). */
  name?: string;
  /** Per request, default 30 s, at most 300 s. */
  timeoutMs?: number;
  /** One upstream message (stdio line, HTTP body), default 4 MiB. */
  maxResponseBytes?: number;
  /** Requests in flight at once (per child for stdio), default 64; more get an error at once. */
  maxInFlight?: number;
  /** How long list results are reused, default 30 s. */
  listTtlMs?: number;
}

export const DEFAULT_TIMEOUT_MS = 30_000;
export const MAX_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
export const DEFAULT_MAX_IN_FLIGHT = 64;
export const DEFAULT_LIST_TTL_MS = 30_000;
/** tools/list and friends: pages fetched and entries kept, so a paging loop upstream cannot run forever. */
export const MAX_LIST_PAGES = 20;
export const MAX_LIST_ITEMS = 2_000;

// JSON-RPC 2.0 leaves -32000..-32099 to the implementation. The gateway's own refusals use:
export const UPSTREAM_TIMEOUT = -32001;
/** The upstream could not be reached, died, was busy, or answered something unusable. */
export const UPSTREAM_UNAVAILABLE = -32002;
export const INVALID_PARAMS = -32602;

export const rpcError = (code: number, message: string): { error: RpcError } => ({ error: { code, message } });

export interface ResolvedLimits {
  name: string;
  timeoutMs: number;
  maxResponseBytes: number;
  maxInFlight: number;
  listTtlMs: number;
}

export function resolveLimits(l: UpstreamLimits): ResolvedLimits {
  const positive = (v: number | undefined, dflt: number, what: string) => {
    if (v === undefined) return dflt;
    if (!Number.isFinite(v) || v <= 0) throw new Error(`upstream ${what} must be a positive number`);
    return v;
  };
  return {
    name: l.name ?? 'server',
    timeoutMs: Math.min(positive(l.timeoutMs, DEFAULT_TIMEOUT_MS, 'timeoutMs'), MAX_TIMEOUT_MS),
    // An upstream answer may be large (a file read), but never larger than what we hand on.
    maxResponseBytes: positive(l.maxResponseBytes, DEFAULT_MAX_RESPONSE_BYTES, 'maxResponseBytes'),
    maxInFlight: positive(l.maxInFlight, DEFAULT_MAX_IN_FLIGHT, 'maxInFlight'),
    listTtlMs: positive(l.listTtlMs, DEFAULT_LIST_TTL_MS, 'listTtlMs'),
  };
}

/**
 * Replaces every configured secret (header values, env values) in text we produce from upstream
 * output (stderr lines, error bodies), so an upstream that echoes its credentials cannot leak
 * them through health or error messages. Short values are left: they would blank common words.
 */
export function redactor(secrets: Iterable<string>): (text: string) => string {
  const list = [...secrets].filter((s) => s.length >= 6).sort((a, b) => b.length - a.length);
  return (text) => list.reduce((t, s) => t.split(s).join('[redacted]'), text);
}
