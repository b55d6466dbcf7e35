import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startStdio, type TestStdio } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const META = { 'io.modelcontextprotocol/protocolVersion': '2026-07-28', 'io.modelcontextprotocol/clientCapabilities': {} };

describe('stdio: MCP 2026-07-28', () => {
  let io: TestStdio;
  let text = '';
  beforeEach(async () => {
    text = '';
    io = await startStdio();
    io.stdout.on('data', (d: Buffer) => { text += d.toString(); });
  });
  afterEach(async () => { await io.close(); });

  const answers = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: unknown; result?: Record<string, unknown>; error?: { code: number; data?: unknown } });
  async function ask(id: number, method: string, params: Record<string, unknown> = {}, meta: Record<string, unknown> = META) {
    io.stdin.write(`${JSON.stringify({ jsonrpc: '2.0', id, method, params: { ...params, _meta: meta } })}\n`);
    const deadline = Date.now() + 10_000;
    while (!answers().some((a) => a.id === id) && Date.now() < deadline) await sleep(20);
    return answers().find((a) => a.id === id)!;
  }

  it('[MCP-2026-DISCOVER] [MCP-2026-CACHE-PRIVATE] serves discover, a per-caller tools/list marked private, and a gated tools/call', async () => {
    expect((await ask(1, 'server/discover')).result).toMatchObject({ supportedVersions: ['2026-07-28'] });
    const list = await ask(2, 'tools/list');
    expect(list.result).toMatchObject({ cacheScope: 'private', ttlMs: 30_000 });
    expect((list.result!.tools as { name: string }[]).map((t) => t.name)).not.toContain('drop_table');
    expect((await ask(3, 'tools/call', { name: 'query', arguments: { sql: 'select 1' } })).result).toMatchObject({ content: [{ type: 'text', text: 'query ok' }] });
    // The viewer's key may not drop tables: refused by the gate as on 2025.
    expect((await ask(4, 'tools/call', { name: 'drop_table', arguments: { table: 't' } })).result).toMatchObject({ isError: true });
    const decisions = io.audit.lines.map((l) => JSON.parse(l) as { decision: string; tool?: string });
    expect(decisions.filter((d) => d.tool).map((d) => [d.decision, d.tool])).toEqual([['ALLOWED', 'query'], ['DENIED', 'drop_table']]);
  });

  it('[MCP-2026-UNSUPPORTED-VERSION] [MCP-2026-ERROR-ID] refuses a request naming an unserved revision on a 2026-07-28 connection, as HTTP does', async () => {
    expect((await ask(1, 'tools/list')).result).toBeDefined();
    const refused = await ask(2, 'tools/list', {}, { ...META, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' });
    expect(refused.error).toMatchObject({ code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } });
    const missing = await ask(3, 'tools/list', {}, { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' });
    expect(missing.error).toMatchObject({ code: -32602 });
  });
});
