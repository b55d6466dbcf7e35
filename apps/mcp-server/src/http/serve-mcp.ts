import type { FastifyReply, FastifyRequest } from 'fastify';
import { endpointOf } from '../endpoint.ts';

/**
 * Hands a gated message to the SDK (stateless Streamable HTTP, no session ids, pooled SDK
 * servers) and writes its complete answer through Fastify, so the security headers set by earlier
 * hooks stay on it. A 2026-07-28 refusal the SDK makes after the gate is audited.
 */
export async function serveMcp(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> {
  const identity = request.identity!;
  const { mcp } = request.server;
  // A client that goes away before its answer is written gets its handler aborted. Once the
  // answer is ended, 'close' may still come before 'finish' (writableFinished false): that is not
  // a client leaving, and aborting then cost a DOMException per request.
  const aborted = new AbortController();
  const onClose = () => { if (!reply.raw.writableEnded) aborted.abort(); };
  reply.raw.once('close', onClose);
  // A JSON-RPC response from the client names no revision; the 2025 transport acknowledges it.
  const era = request.mcpEra ?? 'legacy';
  let res: Awaited<ReturnType<typeof mcp.http.serve>>;
  try {
    res = await (endpointOf(request)?.http ?? mcp.http).serve({
      // One JSON-RPC message per request (the gate refuses batches): its approved call, if any, is this request's.
      session: { identity, transport: 'http', address: request.ip, approvedCall: () => request.approvedCall ?? undefined },
      era,
      body: request.body,
      signal: aborted.signal,
    });
  } catch (err) {
    reply.raw.off('close', onClose);
    request.log.error({ err }, 'mcp request failed');
    return reply.status(500).header('cache-control', 'no-store').type('application/json')
      .send({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } });
  }
  reply.raw.off('close', onClose);
  reply.status(res.status);
  reply.header('cache-control', 'no-store');
  // The answer is complete and about to be written: a client that does not read it in time loses
  // the connection rather than have this process hold the bytes.
  mcp.inFlight.written(reply.raw);
  return res.message === undefined ? reply.send() : reply.type('application/json').send(JSON.stringify(res.message));
}
