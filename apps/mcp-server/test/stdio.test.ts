import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { McpError } from '@modelcontextprotocol/sdk/types.js';
import { openSqliteMcpStore } from '../src/store/sqlite.ts';
import { createApiKeyStore } from '@stack/mcp-auth';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');
const MAIN = 'apps/mcp-server/src/main.ts';

describe('stdio transport (the SDK client spawning tsx apps/mcp-server/src/main.ts --transport stdio)', () => {
  let dataDir: string;
  let devKey: string;
  let devId: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mcp-stdio-'));
    const db = openSqliteMcpStore(join(dataDir, 'mcp.db'));
    ({ key: devKey, id: devId } = await createApiKeyStore(db.apiKeys).create({ name: 'local', role: 'developer' }));
    await db.close();
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  const env = (extra: Record<string, string> = {}) => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    NODE_ENV: 'test',
    DATA_DIR: dataDir,
    MCP_AUDIT_LOG: join(dataDir, 'audit.log'),
    LOG_LEVEL: 'silent',
    ...extra,
  });

  it('identifies the caller by MCP_API_KEY and runs the same pipeline: filtered tools, denials, rate limits as JSON-RPC errors', async () => {
    const transport = new StdioClientTransport({
      command: TSX, args: [MAIN, '--transport', 'stdio'], cwd: ROOT, stderr: 'pipe',
      env: env({ MCP_API_KEY: devKey, RATE_LIMIT_PER_MINUTE: '6' }),
    });
    let stderr = '';
    transport.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    const client = new Client({ name: 'stdio-test', version: '1.0.0' });
    await client.connect(transport); // 1: initialize
    try {
      const { tools } = await client.listTools(); // 2
      expect(tools.map((t) => t.name).sort()).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);
      const listed = await client.callTool({ name: 'list_tables', arguments: {} }); // 3
      expect(listed.isError).toBeFalsy();
      const denied = await client.callTool({ name: 'delete_users', arguments: { ids: [1] } }); // 4
      expect((denied.content as { text: string }[])[0]!.text).toBe('ACCESS DENIED\nTool: delete_users\nRequired role: admin\nYour role: developer');
      await client.listTools(); // 5
      await client.listTools(); // 6
      const err = await client.listTools().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(McpError);
      expect((err as McpError).message).toMatch(/Rate limit exceeded/);
      expect(((err as McpError).data as { retry_after_seconds: number }).retry_after_seconds).toBeGreaterThanOrEqual(1);
      // Revoking the key takes effect at the next request, without a restart.
      const db = openSqliteMcpStore(join(dataDir, 'mcp.db'));
      await createApiKeyStore(db.apiKeys).revoke(devId);
      await db.close();
      const revoked = await client.listTools().catch((e: unknown) => e);
      expect((revoked as McpError).message).toMatch(/Unauthorized/);
      expect(((revoked as McpError).data as { reason: string }).reason).toBe('api key has been revoked');
    } finally {
      await client.close();
    }
    expect(stderr).toContain('[OK] stdio transport');
    expect(stderr).toContain('[OK] Role-based access control active');
    const audit = readFileSync(join(dataDir, 'audit.log'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((l) => l.event === 'mcp.decision');
    expect(audit.map((l) => l.decision)).toEqual(['ALLOWED', 'DENIED', 'RATE_LIMITED', 'AUTH_FAILED']);
    expect(audit.every((l) => l.transport === 'stdio')).toBe(true);
    expect(JSON.stringify(audit)).not.toContain(devKey.slice(-20));
  });

  it('refuses to start with an invalid key, printing the reason on stderr and nothing on stdout', async () => {
    const child = spawn(TSX, [MAIN, '--transport', 'stdio'], { cwd: ROOT, env: env({ MCP_API_KEY: 'mcpk_nope' }) });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    const code = await new Promise<number | null>((r) => child.on('exit', r));
    expect(code).toBe(1);
    expect(err).toContain('api key is malformed');
    expect(out).toBe('');
  });
});
