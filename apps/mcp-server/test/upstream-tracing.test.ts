import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { node, tracing } from '@opentelemetry/sdk-node';
import { traceHeaders } from '@stack/telemetry';
import { tracePropagator } from '@stack/telemetry/sdk';
import { createHttpUpstream } from '../src/upstream/http-upstream.ts';
import { tracedUpstream } from '../src/upstream/traced-upstream.ts';
import { rpcError, type Upstream } from '../src/upstream/types.ts';

// The SDK as main.ts sets it up (AsyncLocalStorage context, W3C trace context only), with spans
// kept in memory; registered globally for this file and taken down after it.
const exporter = new tracing.InMemorySpanExporter();
let tracer: Tracer;
let provider: node.NodeTracerProvider;
beforeAll(() => {
  provider = new node.NodeTracerProvider({ spanProcessors: [new tracing.SimpleSpanProcessor(exporter)] });
  provider.register({ propagator: tracePropagator() });
  tracer = provider.getTracer('test');
});
afterAll(async () => {
  await provider.shutdown();
  trace.disable();
  context.disable();
  propagation.disable();
});

/** A Streamable HTTP MCP server answering in JSON, recording each request's headers by JSON-RPC method. */
async function fakeUpstream(): Promise<{ url: string; seen: { method: string; headers: IncomingHttpHeaders }[]; close(): Promise<void> }> {
  const seen: { method: string; headers: IncomingHttpHeaders }[] = [];
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => { body += c.toString(); });
    req.on('end', () => {
      const m = JSON.parse(body) as { id?: number; method: string };
      seen.push({ method: m.method, headers: req.headers });
      if (m.id === undefined) return void res.writeHead(202).end();
      const result = m.method === 'initialize'
        ? { protocolVersion: '2025-11-25', capabilities: { tools: {} }, serverInfo: { name: 'fake', version: '1' } }
        : { content: [{ type: 'text', text: 'ok' }] };
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: m.id, result }));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}/mcp`, seen, close: () => new Promise((r) => server.close(() => r())) };
}

describe('upstream calls under tracing', () => {
  it('[OTEL-5] an HTTP upstream call runs in an mcp.upstream span whose traceparent the upstream receives; no caller credential, no baggage', async () => {
    const fake = await fakeUpstream();
    const upstream = tracedUpstream(createHttpUpstream({ name: 'fake', url: fake.url, headers: { 'x-gateway-key': 'configured' }, traceHeaders }), tracer, 'fake', 'http');
    try {
      // The caller's request, as the Fastify plugin would have it: a span, and a baggage entry
      // the caller sent (which must not travel on).
      const callerBaggage = propagation.createBaggage({ user: { value: 'caller-data' } });
      const traceId = await tracer.startActiveSpan('request', (span) =>
        context.with(propagation.setBaggage(context.active(), callerBaggage), async () => {
          const out = await upstream.request('tools/call', { name: 'echo', arguments: {} });
          expect(out).toEqual({ result: { content: [{ type: 'text', text: 'ok' }] } });
          span.end();
          return span.spanContext().traceId;
        }));
      const spans = exporter.getFinishedSpans();
      const up = spans.find((s) => s.name === 'mcp.upstream' && s.attributes['rpc.method'] === 'tools/call')!;
      expect(up.spanContext().traceId).toBe(traceId);
      expect(up.attributes).toMatchObject({ 'mcp.server': 'fake', 'mcp.upstream.transport': 'http' });
      const call = fake.seen.find((r) => r.method === 'tools/call')!;
      // version 00, this trace, the upstream span as parent, sampled.
      expect(call.headers.traceparent).toBe(`00-${traceId}-${up.spanContext().spanId}-01`);
      expect(call.headers['x-gateway-key']).toBe('configured');
      for (const r of fake.seen) {
        expect(r.headers.authorization).toBeUndefined();
        expect(r.headers.baggage).toBeUndefined();
      }
    } finally {
      await upstream.close();
      await fake.close();
    }
  });

  it('[OTEL-5] without tracing the HTTP upstream sends no traceparent', async () => {
    const fake = await fakeUpstream();
    const upstream = createHttpUpstream({ name: 'fake', url: fake.url });
    try {
      await tracer.startActiveSpan('request', async (span) => {
        await upstream.request('tools/call', { name: 'echo', arguments: {} });
        span.end();
      });
      expect(fake.seen.length).toBeGreaterThan(0);
      for (const r of fake.seen) expect(r.headers.traceparent).toBeUndefined();
    } finally {
      await upstream.close();
      await fake.close();
    }
  });

  it('[OTEL-5] a stdio upstream call gets the span too, an error outcome marked with its JSON-RPC code', async () => {
    exporter.reset();
    const failing: Upstream = {
      request: async () => rpcError(-32001, 'upstream x timed out'),
      listTools: async () => [], listResources: async () => [], listResourceTemplates: async () => [], listPrompts: async () => [],
      health: () => ({ state: 'up' }),
      close: async () => {},
    };
    await tracedUpstream(failing, tracer, 'files', 'stdio').request('resources/read', { uri: 'file:///x' });
    const [span] = exporter.getFinishedSpans();
    expect(span?.name).toBe('mcp.upstream');
    expect(span?.attributes).toMatchObject({ 'mcp.server': 'files', 'mcp.upstream.transport': 'stdio', 'rpc.method': 'resources/read', 'rpc.jsonrpc.error_code': -32001 });
  });
});
