import type { FastifyReply, FastifyRequest } from 'fastify';
import { gateMessage } from '../pipeline/gate.ts';
import { endpointOf } from '../endpoint.ts';

/** Pipeline steps 2–4 on the parsed JSON-RPC message: rate limit, authorize, validate, audit. */
export async function gateRequest(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
  const identity = request.identity!;
  const header = (name: string) => {
    const v = request.headers[name];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const headers = { protocolVersion: header('mcp-protocol-version'), method: header('mcp-method'), name: header('mcp-name'), accept: header('accept'), contentType: header('content-type') };
  const endpoint = endpointOf(request);
  await endpoint?.refresh?.(identity);
  const gate = endpoint?.gate ?? request.server.mcp.gate;
  const result = await gateMessage(request.body, { identity, requestId: request.id, address: request.ip, transport: 'http', tracer: request.server.mcp.tracer }, gate, headers);
  if (result.kind === 'respond') {
    reply.header('cache-control', 'no-store');
    return reply.status(result.status).type('application/json').send(result.message);
  }
  request.approvedCall = result.call ?? null;
  request.mcpEra = result.era ?? null;
  return undefined;
}
