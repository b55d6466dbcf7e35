import { createServer } from 'node:net';
import type { FastifyInstance, InjectOptions } from 'fastify';

/**
 * In-process HTTP for the integration tests: fetch() answered by Fastify's app.inject() instead of
 * a socket. Tests keep calling fetch(url) (and the MCP SDK and the apps' own clients keep calling
 * globalThis.fetch); requests to an origin registered with routeFetch() go to that app, everything
 * else to the real fetch. Responses are buffered: a stream that never ends (SSE) needs a socket.
 */

/** Set in the integration project: test servers are reached through app.inject(), not a socket. */
export const IN_PROCESS = process.env.TEST_HTTP === 'inject';

const routes = new Map<string, FastifyInstance>();
let installed = false;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
const NULL_BODY = new Set([101, 204, 205, 304]);
const MAX_REDIRECTS = 20;

function urlOf(input: string | URL | Request): URL {
  return new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
}

/**
 * Holds a loopback port for an app reached in-process: nothing else on the machine can listen on it
 * while the app uses its origin, so fetch() to another test server is never mistaken for the app,
 * and no two in-process apps share an origin. `port` 0 picks a free one.
 */
export async function holdPort(port = 0): Promise<{ port: number; release: () => Promise<void> }> {
  const server = createServer((socket) => socket.destroy());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    release: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/**
 * Sends fetch() calls for `origin` (e.g. http://127.0.0.1:PORT) to `app` in this process until the
 * returned function is called. One origin, one app: a second registration is a test bug.
 */
export function routeFetch(origin: string, app: FastifyInstance): () => void {
  const key = new URL(origin).origin;
  if (routes.has(key)) throw new Error(`routeFetch: ${key} is already routed to an app`);
  if (!installed) {
    installed = true;
    const real = globalThis.fetch;
    globalThis.fetch = (input, init) => {
      const target = routes.get(urlOf(input).origin);
      return target ? injectFetch(target, input, init) : real(input, init);
    };
  }
  routes.set(key, app);
  return () => {
    if (routes.get(key) === app) routes.delete(key);
  };
}

/** One fetch() answered by `app.inject()`, with fetch's redirect modes, abort signal and Response. */
export async function injectFetch(app: FastifyInstance, input: string | URL | Request, init?: RequestInit): Promise<Response> {
  let request = new Request(input, init);
  for (let hops = 0; ; hops++) {
    request.signal.throwIfAborted();
    const url = new URL(request.url);
    const headers: Record<string, string> = { host: url.host };
    request.headers.forEach((value, name) => {
      headers[name] = value;
    });
    const payload = request.body ? Buffer.from(await request.arrayBuffer()) : undefined;
    const opts: InjectOptions = {
      method: request.method,
      url: url.pathname + url.search,
      headers,
      ...(payload ? { payload } : {}),
    };
    const res = await abortable(app.inject(opts), request.signal);
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) responseHeaders.append(name, String(v));
    }
    const location = responseHeaders.get('location');
    if (REDIRECTS.has(res.statusCode) && location && request.redirect !== 'manual') {
      if (request.redirect === 'error') throw new TypeError('fetch failed', { cause: new Error('unexpected redirect') });
      if (hops >= MAX_REDIRECTS) throw new TypeError('fetch failed', { cause: new Error('redirect count exceeded') });
      const next = new URL(location, url);
      // Fetch §4.4: 303 (and 301/302 after a POST) become a GET without a body.
      const toGet = res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && request.method === 'POST');
      if (next.origin !== url.origin) {
        return globalThis.fetch(next, { redirect: request.redirect, signal: request.signal, ...(toGet ? {} : { method: request.method, headers: request.headers, body: payload }) });
      }
      request = toGet
        ? new Request(next, { method: 'GET', headers: withoutBodyHeaders(request.headers), redirect: request.redirect, signal: request.signal })
        : new Request(next, { method: request.method, headers: request.headers, body: payload, redirect: request.redirect, signal: request.signal });
      continue;
    }
    const body = NULL_BODY.has(res.statusCode) || request.method === 'HEAD' ? null : new Uint8Array(res.rawPayload);
    const response = new Response(body, { status: res.statusCode, statusText: res.statusMessage, headers: responseHeaders });
    Object.defineProperty(response, 'url', { value: url.toString() });
    Object.defineProperty(response, 'redirected', { value: hops > 0 });
    return response;
  }
}

function withoutBodyHeaders(headers: Headers): Headers {
  const out = new Headers(headers);
  for (const h of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) out.delete(h);
  return out;
}

/** Rejects as fetch does when the signal aborts first; the injected request itself runs to its end. */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
