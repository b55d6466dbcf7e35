import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { ToolDefinition } from '../src/tools/types.ts';
import { fixtureTools, startStdio, type TestStdio } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stdio: request ids', () => {
  let io: TestStdio;
  // `query` waits until released, so a call stays in flight as long as the test needs.
  const seen: unknown[] = [];
  let started!: () => void;
  let release!: () => void;
  let running: Promise<void>;
  let released: Promise<void>;

  beforeEach(async () => {
    seen.length = 0;
    running = new Promise((r) => { started = r; });
    released = new Promise((r) => { release = r; });
    const query: ToolDefinition = {
      name: 'query', title: 'query', description: 'waits until released', inputSchema: { sql: z.string() },
      async handler(args) {
        seen.push(args);
        started();
        await released;
        return { content: [{ type: 'text', text: `ran ${String(args.sql)}` }] };
      },
    };
    io = await startStdio({}, [...fixtureTools().filter((t) => t.name !== 'query'), query]);
  });
  afterEach(async () => {
    release();
    await io.close();
  });

  it('[MCP-REQUEST-ID-UNIQUE] a request reusing the id of one in flight is refused; the first call runs with its own arguments', async () => {
    let text = '';
    io.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    const messages = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: unknown; result?: { content: { text: string }[] }; error?: unknown });
    const call = (sql: string) => `${JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'query', arguments: { sql } } })}\n`;
    io.stdin.write(call('first'));
    await running;
    io.stdin.write(call('second'));
    const deadline = Date.now() + 10_000;
    while (messages().length < 1 && Date.now() < deadline) await sleep(20);
    expect(messages()).toEqual([{ jsonrpc: '2.0', id: 7, error: { code: -32600, message: 'Invalid Request: request id already in use' } }]);
    release();
    while (messages().length < 2 && Date.now() < deadline) await sleep(20);
    expect(messages()[1]).toMatchObject({ id: 7, result: { content: [{ type: 'text', text: 'ran first' }] } });
    expect(seen).toEqual([{ sql: 'first' }]);
    const decisions = io.audit.lines.map((l) => JSON.parse(l) as { decision: string; reason: string; tool?: string });
    expect(decisions.map((d) => [d.decision, d.reason])).toEqual([['ALLOWED', 'role and scopes permit the call'], ['DENIED', 'request id already in use']]);
  });
});
