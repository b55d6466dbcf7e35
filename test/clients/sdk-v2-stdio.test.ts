import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, type VersionNegotiationOptions } from '@modelcontextprotocol/client';
import { StdioClientTransport } from '@modelcontextprotocol/client/stdio';
import { openSqliteMcpStore } from '../../apps/mcp-server/src/store/sqlite.ts';
import { createApiKeyStore } from '@stack/mcp-auth';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../..');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

/**
 * The official 2.x client spawning our MCP server on stdio, as a desktop client configured with
 * `command`/`args` would: the same API-key identity, policy and audit on 2026-07-28 as on 2025-11-25.
 */
describe('SDK 2.x client on stdio (tsx apps/mcp-server/src/main.ts --transport stdio)', () => {
  let dataDir: string;
  let key: string;
  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mcp-stdio-v2-'));
    const db = openSqliteMcpStore(join(dataDir, 'mcp.db'));
    ({ key } = await createApiKeyStore(db.apiKeys).create({ name: 'desktop', role: 'developer' }));
    await db.close();
  });
  afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

  async function session(versionNegotiation: VersionNegotiationOptions) {
    const transport = new StdioClientTransport({
      command: TSX, args: ['apps/mcp-server/src/main.ts', '--transport', 'stdio'], cwd: ROOT, stderr: 'pipe',
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', DATA_DIR: dataDir, MCP_AUDIT_LOG: join(dataDir, 'audit.log'), LOG_LEVEL: 'silent', MCP_API_KEY: key },
    });
    const client = new Client({ name: 'stdio-v2', version: '1.0.0' }, { versionNegotiation });
    await client.connect(transport);
    return client;
  }

  for (const [label, mode, era] of [
    ['pinned to 2026-07-28', { pin: '2026-07-28' }, 'modern'],
    ['in auto mode', 'auto', 'modern'],
    ['in legacy mode (2025-11-25)', 'legacy', 'legacy'],
  ] as const) {
    it(`[MCP-2026-REVISIONS] ${label}: lists the developer's tools, calls one, and is refused one the policy denies`, async () => {
      const client = await session({ mode, probe: { timeoutMs: 10_000 } });
      try {
        expect(client.getProtocolEra()).toBe(era);
        const { tools } = await client.listTools();
        expect(tools.map((t) => t.name).sort()).toEqual(['describe_table', 'execute_sql', 'list_tables', 'query']);
        const listed = await client.callTool({ name: 'list_tables', arguments: {} });
        expect(listed.isError).toBeFalsy();
        const denied = await client.callTool({ name: 'delete_users', arguments: { ids: [1] } });
        expect(denied.isError).toBe(true);
        expect((denied.content as { text: string }[])[0]!.text).toMatch(/^ACCESS DENIED\nTool: delete_users/);
      } finally {
        await client.close();
      }
      const lines = readFileSync(join(dataDir, 'audit.log'), 'utf8').trim().split('\n').slice(-2).map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines.map((l) => [l.decision, l.tool, l.transport])).toEqual([['ALLOWED', 'list_tables', 'stdio'], ['DENIED', 'delete_users', 'stdio']]);
    });
  }
});
