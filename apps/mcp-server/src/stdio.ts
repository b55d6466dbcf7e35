import { randomUUID } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import { isJSONRPCNotification, isJSONRPCRequest, type JSONRPCMessage, type RequestId } from '@modelcontextprotocol/server';
import { OAuthError } from '@stack/oauth';
import type { Identity } from '@stack/mcp-auth';
import type { McpConfig } from './config.ts';
import { createRuntime, type BuildDeps, type Runtime } from './runtime.ts';
import { gateMessage, type ApprovedCall } from './pipeline/gate.ts';
import { limitLines } from './message-limits.ts';
import { serveStdioServer, stdioTransport } from './mcp-server-factory.ts';

/** Messages read from standard input and not yet gated; reading pauses at this many. */
const MAX_QUEUED_MESSAGES = 16;

/** JSON-RPC error for a refused message: rate limits carry retry_after_seconds, scope errors the scopes needed. */
function rpcErrorFor(id: RequestId, err: unknown): JSONRPCMessage {
  if (err instanceof OAuthError && err.code === 'rate_limited') {
    return { jsonrpc: '2.0', id, error: { code: -32000, message: 'Rate limit exceeded', data: { retry_after_seconds: err.retryAfter ?? 60 } } };
  }
  if (err instanceof OAuthError && err.code === 'invalid_token') {
    return { jsonrpc: '2.0', id, error: { code: -32001, message: 'Unauthorized', data: { reason: err.description } } };
  }
  if (err instanceof OAuthError && err.code === 'insufficient_scope') {
    return { jsonrpc: '2.0', id, error: { code: -32003, message: 'Insufficient scope', data: { required_scopes: (err.challenge?.scope ?? '').split(' ') } } };
  }
  return { jsonrpc: '2.0', id, error: { code: -32603, message: 'Internal error' } };
}

// Calls end on their own within the statement time limit (the SQL runner stops a statement at it
// and answers with an error); this only bounds a tool that never returns.
const DRAIN_LIMIT_MS = 30_000;

export interface StdioServer {
  identity: Identity;
  runtime: Runtime;
  /** Answers every call already received (waiting at most `drainMs`), then closes the server and the runtime. */
  close(): Promise<void>;
}

/**
 * The stdio transport: the local process is the boundary, the identity comes from the API key
 * in MCP_API_KEY, and every message still passes the same rate limit, authorization and audit.
 */
export async function runStdio(
  config: McpConfig,
  deps: BuildDeps = {},
  io: { stdin?: Readable; stdout?: Writable; drainMs?: number } = {},
): Promise<StdioServer> {
  const runtime = await createRuntime(config, deps);
  const credentials = { apiKey: config.apiKey };
  const authenticate = async (requestId: string): Promise<Identity> => {
    try {
      return await runtime.authenticator.authenticate(credentials);
    } catch (err) {
      runtime.audit.record({ decision: 'AUTH_FAILED', requestId, transport: 'stdio', reason: err instanceof OAuthError ? err.description : 'authentication failed' });
      throw err;
    }
  };
  let identity: Identity;
  try {
    identity = await authenticate(randomUUID());
  } catch (err) {
    await runtime.close();
    throw err;
  }

  // JSON-RPC id → the call the gate approved for it (null while it is gated, or when it is no
  // tools/call). An id stays here until its response is sent: the requests still in flight.
  const ids = new Map<RequestId, ApprovedCall | null>();
  let answered: (() => void) | undefined;
  const session = { identity, transport: 'stdio' as const, approvedCall: (rpcId: RequestId) => ids.get(rpcId) ?? undefined };
  const stdin = io.stdin ?? process.stdin;
  const stdout = io.stdout ?? process.stdout;
  // Messages are gated one at a time, in order, so a notification never overtakes the request before it.
  let chain = Promise.resolve();
  // One JSON-RPC message is one line: a line over BODY_LIMIT_BYTES is dropped as it arrives (never
  // buffered) and answered with an error, as HTTP answers such a body with 413.
  const input = limitLines(config.bodyLimit, (bytes) => {
    const requestId = randomUUID();
    runtime.audit.record({ decision: 'DENIED', requestId, identity, transport: 'stdio', reason: `message of ${bytes} bytes is over the limit of ${config.bodyLimit}` });
    chain = chain.then(() => transport.send({ jsonrpc: '2.0', id: null, error: { code: -32600, message: `Invalid Request: message larger than ${config.bodyLimit} bytes` } } as unknown as JSONRPCMessage));
  });
  const transport = stdioTransport(input, stdout);
  // The SDK pins the connection's protocol revision on its first message (initialize: 2025; a
  // request with a `_meta` envelope: 2026-07-28) and builds the server for it.
  const server = serveStdioServer(() => runtime.newServer(() => session), transport, (err) => console.error(`[WARN] mcp protocol: ${err.message}`));

  // Backpressure: while the client is not reading standard output, or messages wait to be gated,
  // stop reading standard input, so unread answers and unhandled requests cannot pile up here.
  let queued = 0;
  const flow = () => {
    if (stdout.writableNeedDrain || queued >= MAX_QUEUED_MESSAGES) input.pause();
    else input.resume();
  };
  stdout.on('drain', flow);

  const deliver = transport.onmessage!;
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage) => {
    if ('id' in message && ('result' in message || 'error' in message)) ids.delete(message.id as RequestId);
    const sent = send(message);
    flow();
    await sent;
    if (ids.size === 0) answered?.();
  };
  transport.onmessage = (message: JSONRPCMessage) => {
    queued++;
    flow();
    chain = chain.then(async () => {
      const requestId = randomUUID();
      const id = isJSONRPCRequest(message) ? message.id : undefined;
      // MCP: a request id is never reused in a session. One still in flight would make its approved
      // call ambiguous; refused without touching the first request's entry.
      if (id !== undefined && ids.has(id)) {
        try {
          runtime.audit.record({ decision: 'DENIED', requestId, identity, transport: 'stdio', reason: 'request id already in use' });
          await send({ jsonrpc: '2.0', id, error: { code: -32600, message: 'Invalid Request: request id already in use' } });
        } finally {
          queued--;
          flow();
        }
        return;
      }
      if (id !== undefined) ids.set(id, null);
      // A cancelled request gets no answer (MCP cancellation): forget its id here too.
      if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') ids.delete((message.params as { requestId?: RequestId } | undefined)?.requestId as RequestId);
      try {
        // Re-checked per request (microseconds): a key revoked or expired mid-session stops working at once.
        if (id !== undefined) await authenticate(requestId);
        const result = await gateMessage(message, { identity, requestId, transport: 'stdio' }, runtime.gate);
        if (result.kind === 'respond') await transport.send(result.message);
        else {
          if (id !== undefined && result.call) ids.set(id, result.call);
          deliver(message);
        }
        // A cancelled request gets no response (MCP cancellation): it is no longer in flight.
        if (isJSONRPCNotification(message) && message.method === 'notifications/cancelled') {
          const cancelled = (message.params as { requestId?: RequestId } | undefined)?.requestId;
          if (cancelled !== undefined && ids.delete(cancelled) && ids.size === 0) answered?.();
        }
      } catch (err) {
        if (id !== undefined) await transport.send(rpcErrorFor(id, err));
      } finally {
        queued--;
        flow();
      }
    });
  };
  // Reading starts only now that every message goes through the gate. The end of standard input
  // is not passed on: the SDK's transport would close at once and drop the answers to calls still
  // running; close() drains them first (main.ts calls it when standard input ends).
  stdin.pipe(input, { end: false });

  /**
   * Waits until every message received so far has passed the gate and every call among them has
   * been answered and written out. Without this, closing stdin in the middle of a call closed the
   * server under it: the call was audited ALLOWED and its response never sent.
   */
  async function drain(limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<void>((r) => { timer = setTimeout(r, limitMs); });
    try {
      for (let gated = chain; ; gated = chain) {
        await Promise.race([gated, expired]);
        if (gated === chain || Date.now() >= deadline) break;
      }
      if (ids.size > 0) await Promise.race([new Promise<void>((r) => { answered = r; }), expired]);
      await Promise.race([new Promise<void>((r) => stdout.write('', () => r())), expired]);
    } finally {
      answered = undefined;
      clearTimeout(timer);
    }
  }

  await runtime.start();
  return {
    identity,
    runtime,
    async close() {
      await drain(io.drainMs ?? DRAIN_LIMIT_MS);
      stdin.unpipe(input);
      stdout.off('drain', flow);
      await server.close();
      await runtime.close();
    },
  };
}
