import type { FastifyReply, FastifyRequest } from 'fastify';
import { httpTransport } from '../mcp-server-factory.ts';

/**
 * Hands a gated message to the SDK: stateless Streamable HTTP (no session ids, JSON responses),
 * a fresh SDK server and transport per request (a stateless transport cannot be reused).
 */
export async function serveMcp(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const identity = request.identity!;
  // One JSON-RPC message per request (the gate refuses batches): its approved call, if any, is this request's.
  const server = request.server.mcp.newServer({ identity, transport: 'http', address: request.ip, approvedCall: () => request.approvedCall ?? undefined });
  const transport = httpTransport();
  // Headers set by earlier hooks (security headers) live on the Fastify reply; hijacking skips them.
  for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) reply.raw.setHeader(k, v);
  reply.raw.setHeader('cache-control', 'no-store');
  reply.hijack();
  reply.raw.on('close', () => {
    // A response that was written in full leaves nothing in flight: the per-request server and
    // transport are simply dropped (closing them costs the SDK a "Connection closed" McpError, stack
    // trace included, on every request). A client that went away early gets its handlers aborted.
    if (reply.raw.writableFinished) return;
    void transport.close();
    void server.close();
  });
  try {
    await server.connect(transport);
    await transport.handleRequest(request.raw, reply.raw, request.body);
    // The JSON response is written (its sending may still be under way): a client that does not
    // read it in time loses the connection rather than have this process hold the bytes.
    request.server.mcp.inFlight.written(reply.raw);
  } catch (err) {
    request.log.error({ err }, 'mcp request failed');
    if (!reply.raw.headersSent) {
      reply.raw.writeHead(500, { 'content-type': 'application/json' });
      reply.raw.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'Internal error' } }));
    }
  }
}
