import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../../test/helpers/ports.ts';
import { createHttpUpstream, type HttpUpstreamOptions } from '../src/upstream/http-upstream.ts';
import type { Upstream } from '../src/upstream/types.ts';
import { fixture, runNode, text, until, type Lines } from './upstream-helpers.ts';

const SECRET = 'test-secret-123';
const call = (u: Upstream, name: string, args: Record<string, unknown> = {}) => u.request('tools/call', { name, arguments: args });

const opened: Upstream[] = [];
function http(opts: HttpUpstreamOptions): Upstream {
  const u = createHttpUpstream(opts);
  opened.push(u);
  return u;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((u) => u.close()));
});

/** The requests a fixture saw (one JSON line each on its stdout). */
const seen = (f: Lines) =>
  f.lines.slice(1).map((l) =>
    JSON.parse(l) as { method: string; authorization: string | null; session: string | null; version: string | null; rpc: string | null; tool: string | null; answered?: unknown; code?: number | null }
  );

describe('[GW-UPSTREAM-HTTP] server-everything over Streamable HTTP', () => {
  let everything: Lines;
  let url: string;
  beforeAll(async () => {
    everything = runNode([fixture('everything-http.mjs')], 'stderr');
    const port = (await everything.waitFor(/^LISTENING \d+$/)).split(' ')[1];
    url = `http://127.0.0.1:${port}/mcp`;
  });
  afterAll(() => everything.stop());

  it('tools/list (SSE answers, one session) and an echo round trip at protocol 2025-11-25; the configured header reaches the upstream', async () => {
    const u = http({ name: 'everything', url, headers: { Authorization: `Bearer ${SECRET}` } });
    const tools = (await u.listTools()).map((t) => t.name);
    expect(tools).toEqual(expect.arrayContaining(['echo', 'get-sum']));
    expect((await u.listPrompts()).length).toBeGreaterThan(0);
    expect(text(await call(u, 'echo', { message: 'over http' }))).toBe('Echo: over http');
    const sum = await call(u, 'get-sum', { a: 2, b: 3 });
    expect(text(sum)).toMatch(/5/);
    expect(u.health().state).toBe('up');
    const auth = everything.lines.filter((l) => l.startsWith('AUTH '));
    expect(auth.length).toBeGreaterThanOrEqual(4);
    expect(new Set(auth)).toEqual(new Set([`AUTH Bearer ${SECRET}`]));
  });
});

describe('[GW-UPSTREAM-HTTP] HTTP upstream faults (fixture)', () => {
  let f: Lines;
  let url: string;
  beforeAll(async () => {
    f = runNode([fixture('http-mcp.mjs')], 'stdout');
    url = `http://127.0.0.1:${(JSON.parse(await f.waitFor(/"port"/)) as { port: number }).port}/mcp`;
  });
  afterAll(() => f.stop());
  const fx = (o: Partial<HttpUpstreamOptions> = {}) => http({ name: 'fixture', url, headers: { Authorization: `Bearer ${SECRET}` }, ...o });

  it('[GW-UPSTREAM-NO-PASSTHROUGH] only the configured headers go upstream, and their values appear in no error or health output', async () => {
    const u = fx({ timeoutMs: 300 });
    expect(text(await call(u, 'echo', { message: 'hi' }))).toBe('hi');
    const outcomes = [await call(u, 'hang'), await call(u, 'garbage'), await u.request('nope/nope', {}), await call(u, 'big')];
    const everything = JSON.stringify([outcomes, u.health()]);
    expect(everything).not.toContain(SECRET);
    // The upstream saw the configured bearer on every request, and no other credential.
    expect(new Set(seen(f).map((r) => r.authorization))).toEqual(new Set([`Bearer ${SECRET}`]));
    // Spoken at 2025-11-25: initialize asks for it, and every later request names it.
    expect(new Set(seen(f).map((r) => r.version))).toEqual(new Set(['2025-11-25']));
    // A header the transport owns cannot be configured, nor a URL other than http(s) or with credentials.
    expect(() => createHttpUpstream({ url, headers: { 'Mcp-Session-Id': 'x' } })).toThrow(/Mcp-Session-Id is set by the transport/);
    expect(() => createHttpUpstream({ url: 'file:///etc/passwd' })).toThrow(/url must be http or https/);
    expect(() => createHttpUpstream({ url: 'http://user:pw@127.0.0.1/' })).toThrow(/must not hold credentials/);
  });

  it('[GW-UPSTREAM-TIMEOUT] a request the upstream never answers gets a JSON-RPC error after the configured time; the session keeps serving', async () => {
    const u = fx({ timeoutMs: 300 });
    const hung = call(u, 'hang');
    expect(text(await call(u, 'echo', { message: 'meanwhile' }))).toBe('meanwhile');
    expect(await hung).toEqual({ error: { code: -32001, message: 'upstream fixture timed out after 0.3 s' } });
    expect(text(await call(u, 'echo', { message: 'after' }))).toBe('after');
  });

  it('[GW-UPSTREAM-SIZE] a 10 MB answer is cut off at maxResponseBytes with an error and the session is reset; another upstream serves meanwhile', async () => {
    const u = fx({ maxResponseBytes: 1024 * 1024 });
    const other = fx({ name: 'other' });
    expect(text(await call(u, 'echo', { message: 'before' }))).toBe('before');
    const sessions = new Set(seen(f).map((r) => r.session));
    const rss0 = process.memoryUsage().rss;
    const big = call(u, 'big');
    expect(text(await call(other, 'echo', { message: 'meanwhile' }))).toBe('meanwhile');
    expect(await big).toEqual({ error: { code: -32002, message: `upstream fixture answered more than ${1024 * 1024} bytes; connection reset` } });
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 1024 * 1024);
    expect(u.health()).toMatchObject({ state: 'down', lastError: expect.stringMatching(/more than/) });
    expect(text(await call(u, 'echo', { message: 'after' }))).toBe('after');
    // A new session after the reset.
    const latest = seen(f).at(-1)!.session;
    expect(sessions.has(latest)).toBe(false);
    expect(u.health().state).toBe('up');
  });

  it('[GW-UPSTREAM-MALFORMED] a body that is not JSON is refused with an error; the upstream keeps serving', async () => {
    const u = fx();
    const other = fx({ name: 'other' });
    const bad = call(u, 'garbage');
    expect(text(await call(other, 'echo', { message: 'meanwhile' }))).toBe('meanwhile');
    expect(await bad).toEqual({ error: { code: -32002, message: 'upstream fixture answered with malformed JSON' } });
    expect(text(await call(u, 'echo', { message: 'after' }))).toBe('after');
  });

  it('[GW-UPSTREAM-HTTP] a session the upstream forgot (404) is initialized again and the request retried once', async () => {
    const u = fx();
    expect(text(await call(u, 'forget'))).toBe('forgotten');
    // The fixture's log line for a request may come after its answer (a pipe and a socket).
    await until(() => seen(f).some((r) => r.tool === 'forget'));
    const before = seen(f).filter((r) => r.method === 'POST').length;
    expect(text(await call(u, 'echo', { message: 'new session' }))).toBe('new session');
    await until(() => seen(f).filter((r) => r.method === 'POST').length - before >= 4);
    // The refused POST, initialize, notifications/initialized, the retried call.
    const posts = seen(f).filter((r) => r.method === 'POST').slice(before);
    expect(posts.map((r) => r.rpc)).toEqual(['tools/call', 'initialize', 'notifications/initialized', 'tools/call']);
    expect(posts[0]!.session).not.toBe(posts[3]!.session);
  });

  it('[GW-UPSTREAM-HTTP] an SSE answer in pieces, with a comment, a notification and a request from the upstream before the result: the call gets its result, the request is answered Method not found', async () => {
    const u = fx();
    expect(text(await call(u, 'sse', { message: 'streamed' }))).toBe('streamed');
    // The gateway declares no client capability: sampling is refused, on the same session.
    await until(() => seen(f).some((r) => r.answered === 'srv-1'));
    const answer = seen(f).find((r) => r.answered === 'srv-1')!;
    expect(answer).toMatchObject({ code: -32601, authorization: `Bearer ${SECRET}`, version: '2025-11-25' });
    expect(answer.session).toBe(seen(f).filter((r) => r.tool === 'sse').at(-1)!.session);
    expect(u.health().state).toBe('up');
  });

  it('[GW-UPSTREAM-KILLED] an SSE answer whose connection drops mid-event fails its call and every other call on the session at once, not at the time limit; the next call opens a new session', async () => {
    const u = fx({ timeoutMs: 60_000 });
    expect(text(await call(u, 'echo', { message: 'before' }))).toBe('before');
    const session = seen(f).at(-1)!.session;
    const hung = call(u, 'hang');
    await until(() => seen(f).some((r) => r.tool === 'hang' && r.session === session));
    const closed = { error: { code: -32002, message: 'upstream fixture closed the connection before answering' } };
    expect(await call(u, 'sse-break')).toEqual(closed);
    expect(await hung).toEqual(closed);
    expect(u.health()).toMatchObject({ state: 'down', lastError: closed.error.message });
    expect(text(await call(u, 'echo', { message: 'after' }))).toBe('after');
    expect(seen(f).at(-1)!.session).not.toBe(session);
    expect(u.health().state).toBe('up');
  });

  it('[GW-UPSTREAM-HTTP] at most maxInFlight requests at once; the next is refused at once', async () => {
    const u = fx({ maxInFlight: 2, timeoutMs: 500 });
    const hung = [call(u, 'hang'), call(u, 'hang')];
    expect(await call(u, 'echo', { message: 'x' })).toEqual({ error: { code: -32002, message: 'upstream fixture is busy (2 requests in flight)' } });
    await Promise.all(hung);
    expect(text(await call(u, 'echo', { message: 'free again' }))).toBe('free again');
  });

  it('[GW-UPSTREAM-HTTP] an upstream that is down (connection refused) is an error at once, not a hang; another upstream serves meanwhile', async () => {
    // A port nothing listens on.
    const port = await freePort();
    const down = fx({ name: 'down', url: `http://127.0.0.1:${port}/mcp` });
    const other = fx({ name: 'other' });
    const t0 = Date.now();
    const refused = 'upstream down could not be initialized: could not be reached (ECONNREFUSED)';
    expect(await call(down, 'echo')).toEqual({ error: { code: -32002, message: refused } });
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(down.health()).toMatchObject({ state: 'down', lastError: refused });
    await expect(down.listTools()).rejects.toThrow(/could not be initialized/);
    expect(text(await call(other, 'echo', { message: 'meanwhile' }))).toBe('meanwhile');
  });
});
