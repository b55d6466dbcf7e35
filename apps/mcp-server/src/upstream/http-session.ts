import http, { type ClientRequest, type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { ServerCapabilities } from '@modelcontextprotocol/client';
import type { Link } from './sdk-link.ts';
import { SseParser, SseTooLarge } from './sse.ts';
import { INVALID_PARAMS, rpcError, UPSTREAM_TIMEOUT, UPSTREAM_UNAVAILABLE, type RpcError, type RpcOutcome } from './types.ts';

/** The version the gateway asks for in initialize, and the ones it accepts back (MCP lifecycle: version negotiation). */
export const PROTOCOL_VERSION = '2025-11-25';
const SUPPORTED_VERSIONS = new Set([PROTOCOL_VERSION, '2025-06-18', '2025-03-26', '2024-11-05']);
/** JSON-RPC "request cancelled" (MCP cancellation uses the LSP code). */
const REQUEST_CANCELLED = -32800;
const METHOD_NOT_FOUND = -32601;
/** How long a stream may stay open after it carried its answer before its socket is dropped. */
const LINGER_MS = 1_000;
/** Error bodies and acknowledgements are read (so the socket is kept) up to this size, then dropped. */
const MAX_DISCARD_BYTES = 64 * 1024;

export interface HttpSessionOptions {
  url: URL;
  /** The configured headers only (never a caller's credential). */
  headers: Readonly<Record<string, string>>;
  name: string;
  maxResponseBytes: number;
  /** Keep-alive agent shared by every session of the upstream (bounded sockets). */
  agent: http.Agent;
  /** With tracing on: the active span's W3C trace context headers (traceparent), added to each request. */
  traceHeaders?: (() => Record<string, string>) | undefined;
}

export interface HttpSession extends Link {
  /** Set when the upstream answered 404 or 400 to a request naming the session: it forgot it. */
  readonly lost: boolean;
  /** Set when an answer was cut off at the size limit: the session is not used for new calls. */
  readonly retired: boolean;
  /** Ends the session upstream (MCP: DELETE with Mcp-Session-Id), bounded by `timeoutMs`. */
  terminate(timeoutMs: number): Promise<void>;
}

/** What went wrong with one exchange, in our words (the upstream's body is never quoted). */
interface Failure {
  fault: string;
  /** The connection dropped mid-answer: every call on the session fails. */
  broken?: boolean;
  oversized?: boolean;
}

type Settle = (out: RpcOutcome | Failure) => void;

/** One POST in flight: dropped (its socket closed) or left to finish once its call has its outcome. */
interface Exchange {
  drop(): void;
  linger(): void;
}

interface Message {
  jsonrpc?: unknown;
  id?: unknown;
  method?: unknown;
  result?: unknown;
  error?: unknown;
}

const seconds = (ms: number) => `${Math.round(ms / 100) / 10} s`;
const isFailure = (o: RpcOutcome | Failure): o is Failure => 'fault' in o;

function reachFault(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? `could not be reached (${code})` : 'request failed';
}

/** The upstream's JSON-RPC error, passed on as it is when it is one. */
function errorOutcome(error: unknown): RpcOutcome | Failure {
  const e = error as { code?: unknown; message?: unknown; data?: unknown } | null;
  if (typeof e !== 'object' || e === null || typeof e.code !== 'number' || typeof e.message !== 'string') return { fault: 'answered with an invalid JSON-RPC message' };
  return { error: { code: e.code, message: e.message, ...(e.data === undefined ? {} : { data: e.data }) } };
}

/**
 * One MCP session with an upstream over Streamable HTTP (MCP 2025-11-25, "Transports"), on
 * node:http with a keep-alive agent: each JSON-RPC request is one POST whose answer is read as
 * it arrives, a JSON body or an SSE stream, counted against `maxResponseBytes` byte by byte.
 * Answers are matched by id; notifications on a stream are dropped (the gateway forwards
 * results only); a request from the upstream (sampling, elicitation, roots) is answered
 * "Method not found", since the gateway declares no client capability, and ping is answered.
 * No GET stream is opened, no stream is resumed, and redirects are not followed: the
 * configured headers go to the configured URL and nowhere else.
 */
export async function openHttpSession(o: HttpSessionOptions, timeoutMs: number, signal?: AbortSignal): Promise<HttpSession | { error: string }> {
  const { url, name, maxResponseBytes, agent } = o;
  const request = url.protocol === 'https:' ? https.request : http.request;
  const target = {
    protocol: url.protocol,
    hostname: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: url.port || undefined,
    path: `${url.pathname}${url.search}`,
    agent,
  };
  /** What the handshake settled: the session's id and the protocol version, sent on every later request. */
  const negotiated: { sessionId?: string; version?: string } = {};
  let broken: string | undefined;
  let lost = false;
  let retired = false;
  let nextId = 0;
  /** The calls waiting for an answer, by JSON-RPC id. */
  const pending = new Map<number, Settle>();

  const headersFor = (length: number): http.OutgoingHttpHeaders => ({
    ...o.traceHeaders?.(),
    ...o.headers,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'content-length': length,
    ...(negotiated.sessionId === undefined ? {} : { 'mcp-session-id': negotiated.sessionId }),
    ...(negotiated.version === undefined ? {} : { 'mcp-protocol-version': negotiated.version }),
  });

  /** Every call on the session fails now with `reason`; later calls get it at once. */
  function fail(reason: string): void {
    broken ??= reason;
    const waiting = [...pending.values()];
    pending.clear();
    for (const settle of waiting) settle(rpcError(UPSTREAM_UNAVAILABLE, reason));
  }

  /** A message the upstream sent on any answer: a response settles its call by id. */
  function receive(m: Message): void {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) return;
    if (typeof m.method === 'string') {
      // A request from the upstream (it has an id): answered, never forwarded. A notification: dropped.
      if (typeof m.id === 'string' || typeof m.id === 'number') {
        const answer = m.method === 'ping' ? { result: {} } : { error: { code: METHOD_NOT_FOUND, message: 'Method not found' } };
        send({ jsonrpc: '2.0', id: m.id, ...answer });
      }
      return;
    }
    if (typeof m.id !== 'number') return;
    const settle = pending.get(m.id);
    if (!settle) return;
    if ('result' in m) settle({ result: m.result });
    else settle(errorOutcome(m.error));
  }

  /** A notification or a response of ours: POSTed, its acknowledgement (202) read and dropped. */
  function send(message: unknown, done?: (failure?: Failure) => void): ClientRequest {
    const body = Buffer.from(JSON.stringify(message));
    const req = request({ ...target, method: 'POST', headers: headersFor(body.length) }, (res) => {
      const ok = res.statusCode !== undefined && res.statusCode >= 200 && res.statusCode < 300;
      discard(res);
      done?.(ok ? undefined : { fault: `answered HTTP ${res.statusCode ?? 0}` });
    });
    req.on('error', (err) => done?.({ fault: reachFault(err) }));
    req.end(body);
    return req;
  }

  /**
   * POSTs one request and reads its answer. `settle` gets the outcome for `id` (from this answer,
   * or from another stream that carried it), or a failure of this exchange.
   */
  function exchange(id: number, method: string, params: unknown, settle: Settle, onSessionId?: (sid: string) => void): Exchange {
    const body = Buffer.from(JSON.stringify(params === undefined ? { jsonrpc: '2.0', id, method } : { jsonrpc: '2.0', id, method, params }));
    const hadSession = negotiated.sessionId !== undefined;
    let answered = false;
    let response: IncomingMessage | undefined;
    const req = request({ ...target, method: 'POST', headers: headersFor(body.length) }, (res) => {
      response = res;
      res.on('error', () => {});
      const status = res.statusCode ?? 0;
      if (status < 200 || status >= 300) {
        discard(res);
        if ((status === 404 || status === 400) && hadSession) lost = true;
        settle({ fault: status >= 300 && status < 400 ? `answered HTTP ${status} (redirects are not followed)` : `answered HTTP ${status}` });
        return;
      }
      const sid = res.headers['mcp-session-id'];
      if (onSessionId && typeof sid === 'string') onSessionId(sid);
      const announced = Number(res.headers['content-length'] ?? '0');
      const type = (res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      const tooLarge = (): Failure => ({ fault: `answered more than ${maxResponseBytes} bytes; connection reset`, oversized: true });
      if (announced > maxResponseBytes) {
        req.destroy();
        settle(tooLarge());
        return;
      }
      let seen = 0;
      let over = false;
      const cutOff = () => {
        over = true;
        req.destroy();
        settle(tooLarge());
      };
      if (type === 'text/event-stream') {
        const parser = new SseParser((e) => {
          if (e.event !== 'message' || e.data.length === 0) return;
          let m: Message;
          try {
            m = JSON.parse(e.data) as Message;
          } catch {
            settle({ fault: 'answered with malformed JSON' });
            return;
          }
          receive(m);
        }, maxResponseBytes);
        res.on('data', (chunk: Buffer) => {
          if (over) return;
          seen += chunk.length;
          if (seen > maxResponseBytes) return cutOff();
          try {
            parser.push(chunk);
          } catch (err) {
            if (err instanceof SseTooLarge) cutOff();
            else throw err;
          }
        });
        res.on('end', () => {
          parser.end();
          settle({ fault: 'ended its answer without a response' });
        });
      } else {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => {
          if (over) return;
          seen += chunk.length;
          if (seen > maxResponseBytes) return cutOff();
          chunks.push(chunk);
        });
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks, seen).toString('utf8'));
          } catch {
            settle({ fault: seen === 0 ? 'answered without a response' : 'answered with malformed JSON' });
            return;
          }
          for (const m of Array.isArray(parsed) ? parsed : [parsed]) receive(m as Message);
          settle({ fault: 'answered with an invalid JSON-RPC message' });
        });
      }
      // A body that breaks off before its end: the upstream died or dropped the connection.
      res.on('close', () => {
        if (!res.complete && !answered && !over) settle({ fault: 'closed the connection before answering', broken: true });
      });
    });
    req.on('error', (err) => {
      if (!answered) settle({ fault: reachFault(err) });
    });
    req.end(body);
    return {
      drop() {
        answered = true;
        req.destroy();
      },
      linger() {
        answered = true;
        if (!response || response.complete || response.destroyed) return;
        // An answered stream still open: left to end by itself for a moment (its socket is kept), then dropped.
        const timer = setTimeout(() => req.destroy(), LINGER_MS);
        timer.unref();
        response.once('close', () => clearTimeout(timer));
      },
    };
  }

  /**
   * One request and its outcome within `callTimeoutMs`. On timeout or cancellation the POST is
   * dropped and the upstream told (notifications/cancelled, best effort).
   */
  function call(method: string, params: unknown, callTimeoutMs: number, callSignal?: AbortSignal, reportMs = callTimeoutMs, onSessionId?: (sid: string) => void): Promise<RpcOutcome | Failure> {
    if (broken) return Promise.resolve(rpcError(UPSTREAM_UNAVAILABLE, broken));
    if (callSignal?.aborted) return Promise.resolve(rpcError(REQUEST_CANCELLED, 'request cancelled'));
    const id = ++nextId;
    return new Promise((resolve) => {
      let done = false;
      const finish = (out: RpcOutcome | Failure, drop: boolean) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        callSignal?.removeEventListener('abort', onAbort);
        pending.delete(id);
        if (drop) ex.drop();
        else ex.linger();
        // The connection dropped mid-answer (GW-UPSTREAM-KILLED): every other call on the session ends now too.
        if (isFailure(out) && out.broken) fail(`upstream ${name} ${out.fault}`);
        resolve(out);
      };
      const giveUp = (out: { error: RpcError }) => {
        finish(out, true);
        if (negotiated.sessionId !== undefined) send({ jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: id, reason: out.error.message } });
      };
      const onAbort = () => giveUp(rpcError(REQUEST_CANCELLED, 'request cancelled'));
      const timer = setTimeout(() => giveUp(rpcError(UPSTREAM_TIMEOUT, `upstream ${name} timed out after ${seconds(reportMs)}`)), callTimeoutMs);
      callSignal?.addEventListener('abort', onAbort, { once: true });
      // An answer ends its call and keeps the socket; a failure of the exchange or of the session drops it.
      const settle: Settle = (out) => finish(out, isFailure(out) || 'error' in out && out.error.code === UPSTREAM_UNAVAILABLE);
      pending.set(id, settle);
      // Nothing settles before exchange() returns: every answer and error comes in a later event.
      const ex = exchange(id, method, params, settle, onSessionId);
    });
  }

  // Handshake (MCP lifecycle): initialize, then notifications/initialized, then the session is ready.
  const init = await call(
    'initialize',
    { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'mcp-gateway', version: '1.0.0' } },
    timeoutMs,
    signal,
    timeoutMs,
    (sid) => {
      negotiated.sessionId = sid;
    },
  );
  const refused = (why: string) => ({ error: `upstream ${name} could not be initialized: ${why}` });
  if (isFailure(init)) return init.oversized ? { error: `upstream ${name} ${init.fault}` } : refused(init.fault);
  if ('error' in init) {
    if (init.error.code === UPSTREAM_TIMEOUT) return { error: `upstream ${name} timed out after ${seconds(timeoutMs)} during initialize` };
    if (init.error.code === REQUEST_CANCELLED) return { error: 'request cancelled' };
    if (init.error.code === UPSTREAM_UNAVAILABLE) return { error: init.error.message };
    return refused(`MCP error ${init.error.code}: ${init.error.message}`);
  }
  const result = init.result as { protocolVersion?: unknown; capabilities?: unknown } | null;
  if (typeof result?.protocolVersion !== 'string' || !SUPPORTED_VERSIONS.has(result.protocolVersion)) return refused('answered a protocol version the gateway does not speak');
  negotiated.version = result.protocolVersion;
  const capabilities: ServerCapabilities = typeof result.capabilities === 'object' && result.capabilities !== null ? result.capabilities : {};
  const ack = await new Promise<Failure | undefined>((resolve) => {
    const timer = setTimeout(() => {
      req.destroy();
      resolve({ fault: `timed out after ${seconds(timeoutMs)} during initialize` });
    }, timeoutMs);
    const req = send({ jsonrpc: '2.0', method: 'notifications/initialized' }, (failure) => {
      clearTimeout(timer);
      resolve(failure);
    });
  });
  if (ack) return refused(ack.fault);

  const outcome = (out: RpcOutcome | Failure): RpcOutcome => {
    if (!isFailure(out)) return out;
    if (out.oversized) retired = true;
    return rpcError(UPSTREAM_UNAVAILABLE, `upstream ${name} ${out.fault}`);
  };

  return {
    capabilities: () => capabilities,
    get broken() {
      return broken;
    },
    get lost() {
      return lost;
    },
    get retired() {
      return retired;
    },
    fail,
    async close() {
      fail(`upstream ${name} is closed`);
    },
    async terminate(limitMs) {
      const sid = negotiated.sessionId;
      const version = negotiated.version;
      if (sid === undefined) return;
      await new Promise<void>((resolve) => {
        const req = request({ ...target, method: 'DELETE', headers: { ...o.headers, 'mcp-session-id': sid, ...(version ? { 'mcp-protocol-version': version } : {}) } }, (res) => {
          discard(res);
          resolve();
        });
        const timer = setTimeout(() => req.destroy(), limitMs);
        req.on('error', () => resolve());
        req.on('close', () => {
          clearTimeout(timer);
          resolve();
        });
        req.end();
      });
    },
    async call(method, params, callTimeoutMs, callSignal, reportMs) {
      if (broken) return rpcError(UPSTREAM_UNAVAILABLE, broken);
      if (params !== undefined && (typeof params !== 'object' || params === null || Array.isArray(params))) {
        return rpcError(INVALID_PARAMS, 'Invalid params: params must be an object');
      }
      return outcome(await call(method, params, callTimeoutMs, callSignal, reportMs));
    },
  };
}

/** Reads a body we do not need (so the socket goes back to the pool), or drops the socket when it is large. */
function discard(res: IncomingMessage): void {
  let seen = 0;
  res.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > MAX_DISCARD_BYTES) res.destroy();
  });
  res.on('error', () => {});
}
