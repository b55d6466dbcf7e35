import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { AuditLog } from '@stack/audit';
import { openMcpDb } from '@stack/db';
import { createApiKeyStore } from '@stack/mcp-auth';
import { loadMcpConfig } from '../src/config.ts';
import { runStdio, type StdioServer } from '../src/stdio.ts';
import type { ToolDefinition } from '../src/tools/types.ts';
import { fixtureTools, TEST_AUDIT_KEYS } from './helpers.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('stdio: request ids', () => {
  let dataDir: string;
  let audit: AuditLog;
  let server: StdioServer | undefined;
  let stdin: PassThrough;
  let stdout: PassThrough;
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
    dataDir = mkdtempSync(join(tmpdir(), 'mcp-stdio-ids-'));
    const db = openMcpDb(join(dataDir, 'mcp.db'));
    const { key } = await createApiKeyStore(db).create({ name: 'local', role: 'viewer' });
    db.$client.close();
    const config = loadMcpConfig({ NODE_ENV: 'test', DATA_DIR: dataDir, MCP_TRANSPORT: 'stdio', MCP_API_KEY: key, MCP_AUDIT_LOG: 'off', LOG_LEVEL: 'silent' });
    audit = await AuditLog.open({ keys: TEST_AUDIT_KEYS }, 10_000);
    stdin = new PassThrough();
    stdout = new PassThrough();
    server = await runStdio(config, { tools: [...fixtureTools().filter((t) => t.name !== 'query'), query], audit }, { stdin, stdout });
  });
  afterEach(async () => {
    release();
    await server?.close();
    server = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('[MCP-REQUEST-ID-UNIQUE] a request reusing the id of one in flight is refused; the first call runs with its own arguments', async () => {
    let text = '';
    stdout.on('data', (d: Buffer) => { text += d.toString(); });
    const messages = () => text.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: unknown; result?: { content: { text: string }[] }; error?: unknown });
    const call = (sql: string) => `${JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'query', arguments: { sql } } })}\n`;
    stdin.write(call('first'));
    await running;
    stdin.write(call('second'));
    const deadline = Date.now() + 10_000;
    while (messages().length < 1 && Date.now() < deadline) await sleep(20);
    expect(messages()).toEqual([{ jsonrpc: '2.0', id: 7, error: { code: -32600, message: 'Invalid Request: request id already in use' } }]);
    release();
    while (messages().length < 2 && Date.now() < deadline) await sleep(20);
    expect(messages()[1]).toMatchObject({ id: 7, result: { content: [{ type: 'text', text: 'ran first' }] } });
    expect(seen).toEqual([{ sql: 'first' }]);
    const decisions = audit.lines.map((l) => JSON.parse(l) as { decision: string; reason: string; tool?: string });
    expect(decisions.map((d) => [d.decision, d.reason])).toEqual([['ALLOWED', 'role and scopes permit the call'], ['DENIED', 'request id already in use']]);
  });
});
