import { inSpan, type Tracer } from '@stack/telemetry';
import type { Upstream } from './types.ts';

/**
 * An upstream whose requests each run in an `mcp.upstream` span (the upstream's name, its
 * transport and the JSON-RPC method; an error outcome marks the span with its code). The span is
 * active while the request is sent, so an HTTP upstream's traceparent names it as the parent.
 */
export function tracedUpstream(upstream: Upstream, tracer: Tracer, name: string, transport: 'http' | 'stdio'): Upstream {
  return {
    ...upstream,
    request: (method, params, opts) =>
      inSpan(tracer, 'mcp.upstream', { 'mcp.server': name, 'mcp.upstream.transport': transport, 'rpc.method': method }, async (span) => {
        const out = await upstream.request(method, params, opts);
        if ('error' in out) span?.setAttribute('rpc.jsonrpc.error_code', out.error.code);
        return out;
      }),
  };
}
