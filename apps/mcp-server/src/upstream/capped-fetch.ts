import type { FetchLike } from '@modelcontextprotocol/client';

/** What the capped fetch saw, for the upstream that owns it. */
export interface FetchEvents {
  /** A body passed `maxBytes`: it is cut off there and the caller resets the connection. */
  oversized(): void;
  /** A request carrying Mcp-Session-Id was answered 404: the upstream forgot the session. */
  sessionLost(): void;
}

/**
 * fetch for the SDK's Streamable HTTP transport, with the gateway's limits:
 *  - a response body is counted as it streams and cut off after `maxBytes` (an announced larger
 *    Content-Length is refused before reading), so an upstream cannot make us buffer more;
 *  - redirects are errors: the configured headers go to the configured URL and nowhere else;
 *  - GET (the standalone server-to-client SSE stream) is answered 405 locally, which the
 *    transport reads as "the server offers none" (MCP Streamable HTTP): the gateway forwards
 *    requests and needs no unsolicited messages, and an endless stream would hold a socket.
 */
export function cappedFetch(maxBytes: number, events: FetchEvents): FetchLike {
  return async (url, init) => {
    if ((init?.method ?? 'GET').toUpperCase() === 'GET') return new Response(null, { status: 405 });
    const response = await fetch(url, { ...init, redirect: 'error' });
    const hadSession = new Headers(init?.headers).has('mcp-session-id');
    if (response.status === 404 && hadSession) events.sessionLost();
    const announced = Number(response.headers.get('content-length') ?? '0');
    if (announced > maxBytes) {
      await response.body?.cancel().catch(() => {});
      events.oversized();
      throw new Error('response too large');
    }
    if (!response.body) return response;
    let seen = 0;
    const limit = new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        seen += chunk.byteLength;
        if (seen > maxBytes) {
          events.oversized();
          controller.error(new Error('response too large'));
          return;
        }
        controller.enqueue(chunk);
      },
    });
    return new Response(response.body.pipeThrough(limit), { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
