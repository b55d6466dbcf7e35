import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { openSqliteMcpStore } from '../src/store/sqlite.ts';
import { createApiKeyStore } from '@stack/mcp-auth';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const MAIN = 'apps/mcp-server/src/main.ts';

describe('[HARD-STDIO-DRAIN] stdio: closing stdin during a call', () => {
  let dataDir: string;
  let key: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mcp-stdio-drain-'));
    const db = openSqliteMcpStore(join(dataDir, 'mcp.db'));
    ({ key } = await createApiKeyStore(db.apiKeys).create({ name: 'local', role: 'developer' }));
    await db.close();
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  it('answers the call still running when stdin closes, then exits 0; the audit line and the answer agree', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, '--transport', 'stdio'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', DATA_DIR: dataDir, MCP_AUDIT_LOG: join(dataDir, 'audit.log'), MCP_API_KEY: key, LOG_LEVEL: 'silent' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const messages: { id?: number; result?: { content?: { text: string }[]; isError?: boolean } }[] = [];
    let initialized!: () => void;
    const ready = new Promise<void>((r) => { initialized = r; });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = JSON.parse(line) as { id?: number };
      messages.push(m);
      if (m.id === 1) initialized();
    });
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const send = (m: unknown) => child.stdin.write(`${JSON.stringify(m)}\n`);
    try {
      send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 't', version: '1' } } });
      await ready;
      send({ jsonrpc: '2.0', method: 'notifications/initialized' });
      // A statement that takes a while (and the SQL worker may still be starting): in flight when stdin closes.
      const sql = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT count(*) FROM c';
      send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'query', arguments: { sql } } });
      child.stdin.end();
      expect(await exited, stderr).toBe(0);
    } finally {
      clearTimeout(kill);
    }
    const answer = messages.find((m) => m.id === 2);
    expect(answer, stderr).toBeDefined();
    const text = answer!.result!.content![0]!.text;
    // The statement's own outcome: its rows, or the time limit on a very slow machine; never silence.
    if (!answer!.result!.isError) expect(JSON.parse(text).rows).toEqual([[300000]]);
    else expect(text).toMatch(/time limit/);
    const audit = readFileSync(join(dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(audit.filter((l) => l.tool === 'query').map((l) => l.decision)).toEqual(['ALLOWED']);
  });
});
