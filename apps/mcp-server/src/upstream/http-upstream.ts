import http from 'node:http';
import https from 'node:https';
import { openHttpSession, type HttpSession } from './http-session.ts';
import { listAll, listCache, type ListKind } from './sdk-link.ts';
import { redactor, resolveLimits, rpcError, UPSTREAM_TIMEOUT, UPSTREAM_UNAVAILABLE, type CallOptions, type RpcOutcome, type Upstream, type UpstreamHealth, type UpstreamLimits } from './types.ts';

export interface HttpUpstreamOptions extends UpstreamLimits {
  /** The upstream's MCP endpoint: http or https, no user information. */
  url: string;
  /**
   * Sent with every request, exactly these (values already resolved from secrets). The caller's
   * own credentials are never among them: the gateway authenticates upstream as itself (MCP
   * security considerations: no token passthrough).
   */
  headers?: Record<string, string>;
  /**
   * With tracing on: the W3C trace context (traceparent) of the active span, sent with each
   * request so the upstream's spans join the caller's trace. Only the propagator's headers: the
   * caller's credential is no more forwarded with tracing than without.
   */
  traceHeaders?: (() => Record<string, string>) | undefined;
}

/** Headers the transport owns; a configured one would break the session or the framing. */
const RESERVED_HEADERS = new Set(['accept', 'content-type', 'content-length', 'host', 'mcp-session-id', 'mcp-protocol-version', 'last-event-id', 'connection', 'transfer-encoding']);

function checkOptions(opts: HttpUpstreamOptions): URL {
  const problems: string[] = [];
  let url: URL | undefined;
  try {
    url = new URL(opts.url);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') problems.push('url must be http or https');
    if (url.username || url.password) problems.push('url must not hold credentials (use headers)');
  } catch {
    problems.push('url is not a URL');
  }
  for (const name of Object.keys(opts.headers ?? {})) {
    if (RESERVED_HEADERS.has(name.toLowerCase())) problems.push(`header ${name} is set by the transport`);
  }
  try {
    new Headers(opts.headers);
  } catch {
    problems.push('headers hold an invalid name or value');
  }
  if (problems.length > 0 || !url) throw new Error(`upstream ${opts.name ?? 'upstream'}: ${problems.join('; ')}`);
  return url;
}

/** Free keep-alive sockets are closed after this long idle, before a Node server's default 5 s closes them under a request. */
const IDLE_SOCKET_MS = 4_000;
/** Sockets beyond `maxInFlight`: notifications, cancellations, answers to the upstream's requests, DELETE. */
const SPARE_SOCKETS = 4;

/**
 * An upstream MCP server over Streamable HTTP (http-session.ts). One MCP session, opened by the
 * first request (initialize once, Mcp-Session-Id reused, keep-alive connections from one agent
 * with at most maxInFlight + a few sockets) and opened again when the upstream answers 404 for it
 * (MCP: the session ended, start a new one; or 400, which servers built on the SDK's examples,
 * server-everything among them, answer for a session they do not know, e.g. after a restart), or
 * after a fault (an answer that broke off or was too large). At most `maxInFlight` requests at
 * once; more are refused at once, not queued.
 */
export function createHttpUpstream(opts: HttpUpstreamOptions): Upstream {
  const url = checkOptions(opts);
  const limits = resolveLimits(opts);
  const { name, timeoutMs, maxResponseBytes, maxInFlight } = limits;
  const headers = { ...opts.headers };
  // A header value and, for "Bearer x", the token alone.
  const redact = redactor(Object.values(headers).flatMap((v) => [v, v.split(' ').slice(1).join(' ')]));
  const cache = listCache(limits.listTtlMs);
  const agentOptions = { keepAlive: true, maxSockets: maxInFlight + SPARE_SOCKETS, maxFreeSockets: maxInFlight + SPARE_SOCKETS, timeout: IDLE_SOCKET_MS, scheduling: 'lifo' as const };
  const agent = url.protocol === 'https:' ? new https.Agent(agentOptions) : new http.Agent(agentOptions);

  let session: Promise<HttpSession | { error: string }> | undefined;
  let inFlight = 0;
  let closed = false;
  const health: UpstreamHealth = { state: 'starting' };
  const fault = (message: string) => {
    health.state = 'down';
    health.lastError = redact(message);
  };

  function open(): Promise<HttpSession | { error: string }> {
    const s = openHttpSession({ url, headers, name, maxResponseBytes, agent, traceHeaders: opts.traceHeaders }, timeoutMs).then((l) => {
      if ('error' in l) {
        fault(l.error);
        if (session === s) session = undefined;
      } else {
        health.state = 'up';
      }
      return l;
    });
    return s;
  }

  async function call(method: string, params: unknown, signal: AbortSignal | undefined, retried = false): Promise<RpcOutcome> {
    session ??= open();
    const s = session;
    const link = await s;
    if ('error' in link) return rpcError(UPSTREAM_UNAVAILABLE, link.error || `upstream ${name} is unreachable`);
    const out = await link.call(method, params, timeoutMs, signal);
    if ('error' in out && link.lost) {
      // The upstream no longer knows the session: the request was not processed, so one retry
      // on a new session is safe.
      if (session === s) session = undefined;
      void link.close();
      if (!retried && !closed) return call(method, params, signal, true);
    }
    if ('error' in out && (link.broken || link.retired)) {
      fault(link.broken ?? out.error.message);
      if (session === s) session = undefined;
    } else if ('result' in out || (out.error.code !== UPSTREAM_TIMEOUT && out.error.code !== UPSTREAM_UNAVAILABLE)) {
      health.state = 'up';
    }
    return out;
  }

  const list = (kind: ListKind, o: CallOptions = {}) =>
    cache.get(kind, async () => {
      session ??= open();
      const link = await session;
      if ('error' in link) return rpcError(UPSTREAM_UNAVAILABLE, link.error);
      return listAll(link, kind, timeoutMs, o.signal);
    });

  return {
    async request(method, params, o = {}) {
      if (closed) return rpcError(UPSTREAM_UNAVAILABLE, `upstream ${name} is closed`);
      if (inFlight >= maxInFlight) return rpcError(UPSTREAM_UNAVAILABLE, `upstream ${name} is busy (${maxInFlight} requests in flight)`);
      inFlight++;
      try {
        const out = await call(method, params, o.signal);
        return 'error' in out ? { error: { ...out.error, message: redact(out.error.message) } } : out;
      } catch {
        // Not expected (every fault is an outcome), but a throw must not reach the caller's handler.
        return rpcError(UPSTREAM_UNAVAILABLE, `upstream ${name} request failed`);
      } finally {
        inFlight--;
      }
    },
    listTools: (o) => list('tools', o),
    listResources: (o) => list('resources', o),
    listResourceTemplates: (o) => list('resourceTemplates', o),
    listPrompts: (o) => list('prompts', o),
    health: () => ({ ...health }),
    async close() {
      closed = true;
      cache.clear();
      const s = session;
      session = undefined;
      const link = s ? await s : undefined;
      if (link && !('error' in link)) {
        // MCP: a client that no longer needs the session SHOULD end it with DELETE; bounded, best effort.
        await link.terminate(1_000);
        await link.close();
      }
      agent.destroy();
    },
  };
}
