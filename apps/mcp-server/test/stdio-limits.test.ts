import type { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStdio, type TestStdio } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every complete JSON line written to `out` so far (read as it arrives once `start` is called). */
function lines(out: PassThrough) {
  let text = '';
  return {
    start: () => out.on('data', (d: Buffer) => { text += d.toString(); }),
    messages: () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: unknown; result?: unknown; error?: { code: number; message: string } }),
  };
}

describe('stdio: what a client may send and leave unread is bounded', () => {
  let io: TestStdio;
  beforeEach(async () => { io = await startStdio({ BODY_LIMIT_BYTES: '4096', RATE_LIMIT_PER_MINUTE: '1000000' }); });
  afterEach(() => io.close());

  it('[HARD-MEM-STDIO-LINE] a line over BODY_LIMIT_BYTES is dropped as it arrives and answered with an error; the session goes on', async () => {
    const out = lines(io.stdout);
    out.start();
    const big = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: { pad: 'a'.repeat(2 * 1024 * 1024) } });
    for (let i = 0; i < big.length; i += 65_536) io.stdin.write(big.slice(i, i + 65_536));
    io.stdin.write('\n');
    io.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'tools/list', params: {} })}\n`);
    const deadline = Date.now() + 10_000;
    while (out.messages().length < 2 && Date.now() < deadline) await sleep(20);
    const [refused, listed] = out.messages();
    expect(refused).toEqual({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'Invalid Request: message larger than 4096 bytes' } });
    expect(listed).toMatchObject({ id: 2, result: { tools: expect.any(Array) } });
    expect(out.messages()).toHaveLength(2);
    const denied = io.audit.lines.map((l) => JSON.parse(l) as { decision: string; reason: string }).filter((l) => l.decision === 'DENIED');
    expect(denied).toEqual([expect.objectContaining({ reason: `message of ${big.length} bytes is over the limit of 4096` })]);
  });

  it('[HARD-MEM-STDIO-BACKPRESSURE] while the client does not read standard output, standard input is not read either: answers do not pile up', async () => {
    const n = 2000;
    for (let id = 1; id <= n; id++) io.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/list', params: {} })}\n`);
    await sleep(1500);
    // One tools/list answer is about 1 KB: without backpressure all of them (about 2 MB) wait here.
    expect(io.stdout.writableLength).toBeLessThan(128 * 1024);
    expect(io.stdin.readableLength).toBeGreaterThan(0);
    // Once the client reads, every request is answered, in order.
    const out = lines(io.stdout);
    out.start();
    const deadline = Date.now() + 20_000;
    while (out.messages().length < n && Date.now() < deadline) await sleep(50);
    expect(out.messages().map((m) => m.id)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
  }, 30_000);
});
