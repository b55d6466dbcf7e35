import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ToolDefinition } from '../src/tools/types.ts';
import { callTool, fixtureTools, rpc, startMcpServer, type TestMcpServer } from './helpers.ts';

const NO_AUTH = { MCP_AUTH_MODE: 'none', MCP_ALLOW_INSECURE_NO_AUTH: 'true', RATE_LIMIT_PER_MINUTE: '10000' };
const BIG_BYTES = 8 * 1024 * 1024; // more than loopback socket buffers take: Node holds the rest
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** The fixture tools, with a `query` that waits for `release` ('wait') or answers 8 MB of text ('big'). */
function tools(state: { running: number; served: number; release: () => void; released: Promise<void> }): ToolDefinition[] {
  return fixtureTools().map((t) => t.name !== 'query' ? t : {
    ...t,
    async handler(args: { sql: string }) {
      if (args.sql === 'wait') {
        state.running++;
        await state.released;
      }
      if (args.sql === 'big') state.served++;
      return { content: [{ type: 'text' as const, text: args.sql === 'big' ? 'x'.repeat(BIG_BYTES) : 'ok' }] };
    },
  });
}

function blocker() {
  let release!: () => void;
  const released = new Promise<void>((r) => { release = r; });
  return { running: 0, served: 0, release, released };
}

/** A POST whose response is never read: the socket is paused for good. */
function unreadCall(base: string, body: unknown): Socket {
  const { port } = new URL(base);
  const json = JSON.stringify(body);
  const s = connect({ host: '127.0.0.1', port: Number(port) });
  s.on('error', () => {});
  s.write(`POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`);
  s.pause();
  return s;
}

describe('HTTP: responses held for clients are bounded', () => {
  let server: TestMcpServer | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await server?.close();
    server = undefined;
  });

  it('[HARD-MEM-HTTP-IN-FLIGHT] one identity has at most 8 requests in flight; the 9th gets 429 (audited) until earlier ones are answered', async () => {
    const state = blocker();
    server = await startMcpServer(NO_AUTH, { tools: tools(state) });
    const url = server.url;
    const waiting = Array.from({ length: 8 }, () => rpc(url, callTool('query', { sql: 'wait' })));
    try {
      await until(() => state.running === 8, 'eight running calls');
      const ninth = await rpc(url, callTool('query', { sql: 'SELECT 1' }));
      expect(ninth.status).toBe(429);
      expect(ninth.headers.get('retry-after')).toBe('1');
      expect(await ninth.json()).toMatchObject({ error: 'rate_limited', error_description: expect.stringMatching(/too many requests in flight \(at most 8\)/) });
      expect(server.audit()).toContainEqual(expect.objectContaining({ decision: 'RATE_LIMITED', reason: expect.stringMatching(/in flight/) }));
    } finally {
      state.release();
    }
    for (const r of await Promise.all(waiting)) expect(r.status).toBe(200);
    expect((await rpc(url, callTool('query', { sql: 'SELECT 1' }))).status).toBe(200);
  });

  it('[HARD-MEM-HTTP-UNREAD] responses a client never reads count as in flight and are dropped after the send timeout, freeing what they held', async () => {
    const state = blocker();
    server = await startMcpServer(NO_AUTH, { tools: tools(state), inFlightLimits: { sendTimeoutMs: 4000 } });
    const { url, base, app } = server;
    for (let i = 0; i < 8; i++) sockets.push(unreadCall(base, callTool('query', { sql: 'big' })));
    await until(() => state.served === 8, 'eight answers');
    await sleep(200);
    // The answers are written, none is read: the identity still has eight requests in flight.
    const refused = await rpc(url, callTool('query', { sql: 'SELECT 1' }));
    expect(refused.status).toBe(429);
    // Each unread 8 MB answer: the socket buffers take a part, this process holds the rest.
    expect(app.mcp.inFlight.pendingBytes()).toBeGreaterThan(8 * 2 * 1024 * 1024);
    // The send timeout closes the stalled connections: nothing is held any more and calls work again.
    await until(() => app.mcp.inFlight.pendingBytes() === 0, 'the stalled responses to be dropped');
    const after = await rpc(url, callTool('query', { sql: 'SELECT 1' }));
    expect(after.status).toBe(200);
  });
});
