import { Client, ProtocolError, SdkHttpError, type ServerCapabilities, type StandardSchemaV1, type Transport } from '@modelcontextprotocol/client';
import {
  INVALID_PARAMS,
  MAX_LIST_ITEMS,
  MAX_LIST_PAGES,
  rpcError,
  UPSTREAM_TIMEOUT,
  UPSTREAM_UNAVAILABLE,
  type ListItem,
  type RpcError,
  type RpcOutcome,
} from './types.ts';

/**
 * One live MCP client session with an upstream: the SDK Client does the initialize handshake
 * (legacy version negotiation, so 2025-11-25 on the wire), request ids, Mcp-Session-Id, SSE or
 * JSON answers and cancellation; this wraps it so every outcome is a JSON-RPC result or error.
 *
 * Results are passed through as the upstream sent them: the gateway forwards, so the SDK's
 * per-method result schemas (which would strip or refuse fields a newer upstream adds) are
 * replaced by a schema that accepts any value.
 */
const PASSTHROUGH: StandardSchemaV1<unknown, unknown> = {
  '~standard': { version: 1, vendor: 'mcp-gateway', validate: (value) => ({ value }) },
};

/** JSON-RPC "request cancelled" (MCP cancellation uses the LSP code). */
const REQUEST_CANCELLED = -32800;

export interface Link {
  capabilities(): ServerCapabilities | undefined;
  /** `reportMs` is the limit named in a timeout message (the caller's whole budget), default `timeoutMs`. */
  call(method: string, params: unknown, timeoutMs: number, signal?: AbortSignal, reportMs?: number): Promise<RpcOutcome>;
  /** Why the link broke, once it did: calls in flight and later calls get this message. */
  readonly broken: string | undefined;
  /** Marks the link broken with `reason` and closes it: calls in flight fail at once with it. */
  fail(reason: string): void;
  close(): Promise<void>;
}

/**
 * A fault in our own words: the SDK's messages may quote an upstream body, which could echo
 * anything (even the credentials we sent), so only the kind of fault is named.
 */
function describe(err: unknown): string {
  if (err instanceof SyntaxError) return 'answered with malformed JSON';
  if (err instanceof SdkHttpError && typeof err.status === 'number') return `answered HTTP ${err.status}`;
  const code = (err as { cause?: { code?: unknown } } | undefined)?.cause?.code;
  if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return `could not be reached (${code})`;
  if ((err as { name?: unknown } | undefined)?.name === 'ZodError') return 'answered with an invalid JSON-RPC message';
  return 'request failed';
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** A deadline and the caller's signal as one signal; `timedOut()` tells which fired. */
function deadline(timeoutMs: number, signal?: AbortSignal) {
  const timer = new AbortController();
  const handle = setTimeout(() => timer.abort(new Error('timeout')), timeoutMs);
  return {
    signal: signal ? AbortSignal.any([signal, timer.signal]) : timer.signal,
    timedOut: () => timer.signal.aborted,
    clear: () => clearTimeout(handle),
  };
}

/** Connects an SDK Client over `transport`; refuses with our own words (the SDK's may quote an upstream body). */
export async function openLink(transport: Transport, name: string, timeoutMs: number, signal?: AbortSignal): Promise<Link | { error: string }> {
  let broken: string | undefined;
  const client = new Client({ name: 'mcp-gateway', version: '1.0.0' }, { capabilities: {} });
  // Faults surface through the calls they break; the SDK's own reports would only be noise.
  client.onerror = () => {};
  client.onclose = () => {
    broken ??= `upstream ${name} closed the connection`;
  };
  const d = deadline(timeoutMs, signal);
  try {
    // The SDK's own timeout is set past ours, so ours (with its message) always fires first.
    await client.connect(transport, { signal: d.signal, timeout: timeoutMs + 1_000 });
  } catch (err) {
    await client.close().catch(() => {});
    if (d.timedOut()) return { error: `upstream ${name} timed out after ${seconds(timeoutMs)} during initialize` };
    if (signal?.aborted) return { error: 'request cancelled' };
    if (broken && broken !== `upstream ${name} closed the connection`) return { error: broken };
    return { error: `upstream ${name} could not be initialized: ${err instanceof ProtocolError ? err.message : describe(err)}` };
  } finally {
    d.clear();
  }

  return {
    capabilities: () => client.getServerCapabilities(),
    get broken() {
      return broken;
    },
    fail(reason) {
      broken ??= reason;
      void client.close().catch(() => {});
    },
    close: () => client.close().catch(() => {}),
    async call(method, params, callTimeoutMs, callSignal, reportMs = callTimeoutMs) {
      if (broken) return rpcError(UPSTREAM_UNAVAILABLE, broken);
      if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
        return rpcError(INVALID_PARAMS, 'Invalid params: params must be an object');
      }
      const c = deadline(callTimeoutMs, callSignal);
      try {
        const result = await client.request({ method, params: params as Record<string, unknown> | undefined }, PASSTHROUGH, {
          signal: c.signal,
          timeout: callTimeoutMs + 1_000,
        });
        return { result };
      } catch (err) {
        if (c.timedOut()) return rpcError(UPSTREAM_TIMEOUT, `upstream ${name} timed out after ${seconds(reportMs)}`);
        if (callSignal?.aborted) return rpcError(REQUEST_CANCELLED, 'request cancelled');
        // The upstream's own JSON-RPC error is its answer: passed through unchanged.
        if (err instanceof ProtocolError && !broken) return { error: { code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }) } };
        return rpcError(UPSTREAM_UNAVAILABLE, broken ?? `upstream ${name} ${describe(err)}`);
      } finally {
        c.clear();
      }
    },
  };
}

export type ListKind = 'tools' | 'resources' | 'resourceTemplates' | 'prompts';

/** Each list's method and the capability that offers it (the result's array is named as the kind). */
const LISTS: Readonly<Record<ListKind, { method: string; capability: 'tools' | 'resources' | 'prompts' }>> = {
  tools: { method: 'tools/list', capability: 'tools' },
  resources: { method: 'resources/list', capability: 'resources' },
  resourceTemplates: { method: 'resources/templates/list', capability: 'resources' },
  prompts: { method: 'prompts/list', capability: 'prompts' },
};

/**
 * Every page of tools/list (or resources/list, resources/templates/list, prompts/list), at most MAX_LIST_PAGES pages and
 * MAX_LIST_ITEMS entries; an entry without a string name is dropped. Empty when the upstream did
 * not declare the capability (MCP: a client only calls what the server declared).
 */
export async function listAll(
  link: Link,
  kind: ListKind,
  timeoutMs: number,
  signal?: AbortSignal,
): Promise<{ items: ListItem[] } | { error: RpcError }> {
  const { method, capability } = LISTS[kind];
  if (!link.capabilities()?.[capability]) return { items: [] };
  const items: ListItem[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_LIST_PAGES; page++) {
    const out = await link.call(method, cursor === undefined ? {} : { cursor }, timeoutMs, signal);
    if ('error' in out) return out;
    const result = out.result as Record<string, unknown> | null;
    const entries: unknown = result?.[kind];
    if (!Array.isArray(entries)) return rpcError(UPSTREAM_UNAVAILABLE, `upstream answered ${method} without a ${kind} array`);
    for (const e of entries) {
      if (items.length >= MAX_LIST_ITEMS) return { items };
      if (typeof e === 'object' && e !== null && typeof (e as { name?: unknown }).name === 'string') items.push(e as ListItem);
    }
    cursor = typeof result?.nextCursor === 'string' ? result.nextCursor : undefined;
    if (cursor === undefined) break;
  }
  return { items };
}

export interface ListCache {
  get(kind: ListKind, load: () => Promise<{ items: ListItem[] } | { error: RpcError }>): Promise<ListItem[]>;
  clear(): void;
}

/**
 * Lists reused for `ttlMs`; concurrent callers share one fetch. A failed fetch is not cached and
 * rejects, so callers see the upstream is down rather than an empty list.
 */
export function listCache(ttlMs: number): ListCache {
  const entries = new Map<ListKind, { at: number; items: Promise<ListItem[]> }>();
  return {
    async get(kind, load) {
      const hit = entries.get(kind);
      if (hit && Date.now() - hit.at < ttlMs) return hit.items;
      const items = load().then((out) => {
        if ('items' in out) return out.items;
        entries.delete(kind);
        throw new UpstreamListError(out.error.message);
      });
      entries.set(kind, { at: Date.now(), items });
      return items;
    },
    clear: () => entries.clear(),
  };
}

/** listTools() and friends reject with this when the upstream could not be asked. */
export class UpstreamListError extends Error {}
