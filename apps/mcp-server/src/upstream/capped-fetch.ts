import type { FetchLike } from '@modelcontextprotocol/client';

/** What the capped fetch saw, for the upstream that owns it. */
export interface FetchEvents {
  /** A body passed `maxBytes`: it is cut off there and the caller resets the connection. */
  oversized(): void;
  /**
   * A request carrying Mcp-Session-Id was answered 404 (MCP: the session ended) or 400 (what the
   * SDK's example servers, server-everything among them, answer for a session they do not know,
   * e.g. after a restart): the upstream forgot the session, and did not process the request.
   */
  sessionLost(): void;
  /**
   * A body broke off before its end (the connection dropped: the upstream died or was
   * restarted). The SDK leaves a request whose SSE answer broke off waiting for its timeout
   * (it would resume the stream, which the gateway does not), so the owner fails it at once.
   */
  broken(): void;
}

/**
 * fetch for the SDK's Streamable HTTP transport, with the gateway's limits:
 *  - a response body is counted as it streams and cut off after `maxBytes` (an announced larger
 *    Content-Length is refused before reading), so an upstream cannot make us buffer more;
 *  - a body that breaks off (the connection dropped) is reported, so calls waiting on it end;
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
    if ((response.status === 404 || response.status === 400) && hadSession) events.sessionLost();
    const announced = Number(response.headers.get('content-length') ?? '0');
    if (announced > maxBytes) {
      await response.body?.cancel().catch(() => {});
      events.oversized();
      throw new Error('response too large');
    }
    if (!response.body) return response;
    const reader = response.body.getReader();
    let seen = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (err) {
          // Our own abort (a timeout, a cancelled call, the session closing) is not the upstream's fault.
          if (!init?.signal?.aborted) events.broken();
          controller.error(err);
          return;
        }
        if (chunk.done) return controller.close();
        seen += chunk.value.byteLength;
        if (seen > maxBytes) {
          events.oversized();
          controller.error(new Error('response too large'));
          void reader.cancel().catch(() => {});
          return;
        }
        controller.enqueue(chunk.value);
      },
      cancel: (reason) => reader.cancel(reason),
    });
    return new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}
