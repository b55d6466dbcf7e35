import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '@stack/cli';
import { openAuthPg, openMcpPg } from '@stack/db/pg';
import { createApiKeyStore } from '@stack/mcp-auth';
import { run as apikeys } from '../../src/cli/apikeys.ts';
import { run as secrets } from '../../src/cli/secrets.ts';
import { bearer, callTool, listTools, rpc, startMcpServer, type TestMcpServer } from '../helpers.ts';
import { createMcpTestSchema, TEST_PG_URL, testPool } from '../store-helpers.ts';
import { fixture, runNode, type Lines } from '../upstream-helpers.ts';

const SECRET = `upstream-${randomBytes(8).toString('hex')}`;

/** Runs an admin command group in-process with `env`; its output. */
async function cli(group: typeof apikeys, args: string[], env: Record<string, string>, stdin?: string) {
  let stdout = '';
  let stderr = '';
  const io: CliIo = {
    stdin: Readable.from(stdin === undefined ? [] : [Buffer.from(stdin)]),
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env,
  };
  return { code: await group(args, io), stdout, stderr };
}

/**
 * Two MCP app instances behind one load balancer, sharing one PostgreSQL database (DATABASE_URL,
 * a fresh MCP_DATABASE_SCHEMA): API keys, secrets and audit anchors live there, so what one
 * instance or the CLI writes the other reads at its next request. Key checks read the key's row
 * every time (no cache), so the documented bound for a revocation is the next request.
 */
describe('MCP app: several instances on one PostgreSQL database', () => {
  let dir: string;
  let db: Awaited<ReturnType<typeof createMcpTestSchema>>;
  let env: Record<string, string>;
  let fx: Lines;
  let a: TestMcpServer;
  let b: TestMcpServer;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-pg-multi-'));
    db = await createMcpTestSchema();
    fx = runNode([fixture('http-mcp.mjs')], 'stdout');
    const port = (JSON.parse(await fx.waitFor(/"port"/)) as { port: number }).port;
    writeFileSync(join(dir, 'stack.yaml'), `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "demo:use": { description: "Demo tools", roles: [admin, developer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: fixture
    path: /mcp/fixture
    upstream: { url: "http://127.0.0.1:${port}/mcp", headers: { Authorization: "Bearer \${secret:FIXTURE_TOKEN}" } }
    auth: [apikey]
    default: { roles: [admin, developer], scopes: ["demo:use"] }
`);
    env = { NODE_ENV: 'test', DATA_DIR: dir, STACK_FILE: join(dir, 'stack.yaml'), MCP_AUTH_MODE: 'apikey', ...db.env };
    // Set through the CLI before either instance starts: both resolve it at start.
    expect(await cli(secrets, ['set', 'FIXTURE_TOKEN'], env, SECRET)).toMatchObject({ code: 0 });
    // Each instance keeps its own audit log (its own DATA_DIR), anchored in the shared database.
    const settings = { STACK_FILE: env.STACK_FILE!, MCP_AUTH_MODE: 'apikey', ...db.env };
    a = await startMcpServer(settings, { policy: undefined, audit: undefined });
    b = await startMcpServer(settings, { policy: undefined, audit: undefined });
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await fx?.stop();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[MCP-PG-1] both apps\' tables share one schema without a clash: the MCP app\'s are mcp_*, with a migrations journal of its own', async () => {
    const shared = await createMcpTestSchema();
    try {
      const o = { url: TEST_PG_URL, schema: shared.schema, maxConnections: 2, connectTimeoutMs: 5000, statementTimeoutMs: 15_000 };
      const auth = await openAuthPg(o);
      const mcp = await openMcpPg(o);
      await Promise.all([auth.$client.end(), mcp.$client.end()]);
      const pool = testPool();
      const tables = (await pool.query<{ name: string }>('select table_name as name from information_schema.tables where table_schema = $1', [shared.schema])).rows.map((r) => r.name);
      await pool.end();
      expect(tables).toEqual(expect.arrayContaining(['audit_anchors', 'users', '__drizzle_migrations', 'mcp_api_keys', 'mcp_secrets', 'mcp_audit_anchors', '__drizzle_migrations_mcp']));
      expect(tables.filter((t) => !t.startsWith('mcp_') && t !== '__drizzle_migrations_mcp')).not.toContain('api_keys');
    } finally {
      await shared.drop();
    }
  });

  it('[MCP-PG-2] an API key created through one instance, or the CLI, is accepted by the other at once', async () => {
    const viaA = await createApiKeyStore((await a.app.mcp.store()).apiKeys).create({ name: 'from-a', role: 'developer' });
    expect((await rpc(b.url, listTools(), bearer(viaA.key))).status).toBe(200);
    const created = await cli(apikeys, ['create', '--name', 'from-cli', '--role', 'viewer'], env);
    expect(created.code).toBe(0);
    const key = /^(mcpk_\S+)$/m.exec(created.stdout)![1]!;
    for (const s of [a, b]) expect((await rpc(s.url, listTools(), bearer(key))).status).toBe(200);
  });

  it('[MCP-PG-3] a secret set through the CLI is resolved by both instances (their upstream gets it)', async () => {
    const { key } = await createApiKeyStore((await b.app.mcp.store()).apiKeys).create({ name: 'gw', role: 'developer' });
    const before = fx.lines.length;
    for (const s of [a, b]) {
      const body = await (await rpc(`${s.base}/mcp/fixture`, callTool('echo', { message: `via ${s.base}` }), bearer(key))).json();
      expect(body.result.content[0].text).toBe(`via ${s.base}`);
    }
    const seen = fx.lines.slice(before).map((l) => (JSON.parse(l) as { authorization: string | null }).authorization);
    expect(seen.length).toBeGreaterThanOrEqual(2);
    expect(new Set(seen)).toEqual(new Set([`Bearer ${SECRET}`]));
  });

  it('[MCP-PG-4] a key revoked through one instance, or the CLI, is refused by the other at its next request (no cache: the bound is one request)', async () => {
    const store = createApiKeyStore((await a.app.mcp.store()).apiKeys);
    const k = await store.create({ name: 'to-revoke', role: 'developer' });
    expect((await rpc(b.url, listTools(), bearer(k.key))).status).toBe(200);
    expect(await store.revoke(k.id)).toBe(true);
    const refused = await rpc(b.url, listTools(), bearer(k.key));
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);

    const other = await store.create({ name: 'cli-revoke', role: 'developer' });
    expect(await cli(apikeys, ['revoke', '--id', other.id], env)).toMatchObject({ code: 0 });
    for (const s of [a, b]) expect((await rpc(s.url, listTools(), bearer(other.key))).status).toBe(401);
    const listed = JSON.parse((await cli(apikeys, ['list', '--json'], env)).stdout) as { id: string; status: string }[];
    expect(listed.find((x) => x.id === k.id)?.status).toBe('revoked');
  });

  it('[MCP-PG-6] [MCP-PG-7] an instance whose database cannot be reached refuses API keys with 503 and Retry-After, never accepting one unchecked, and says it is not ready', async () => {
    const c = await startMcpServer({ STACK_FILE: env.STACK_FILE!, MCP_AUTH_MODE: 'apikey', ...db.env }, { policy: undefined });
    try {
      const { key } = await createApiKeyStore((await c.app.mcp.store()).apiKeys).create({ name: 'outage', role: 'developer' });
      expect((await rpc(c.url, listTools(), bearer(key))).status).toBe(200);
      const ready = () => fetch(`${new URL(c.url).origin}/ready`);
      expect((await ready()).status).toBe(200);
      // The pool gone (as when the server cannot be reached): every query fails.
      const pool = (await c.app.mcp.store()) as unknown as { close(): Promise<void> };
      await pool.close();
      const refused = await rpc(c.url, listTools(), bearer(key));
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      const notReady = await ready();
      expect(notReady.status).toBe(503);
      expect(notReady.headers.get('retry-after')).toBe('5');
    } finally {
      await c.close();
    }
  });

  it('[MCP-PG-5] each instance anchors its own audit chain, named host:path, in the shared database', async () => {
    await a.app.close();
    await b.app.close(); // each anchors its chain's head on close
    const pool = testPool(db.schema);
    const rows = (await pool.query<{ log: string; chain: string }>('select log, chain from mcp_audit_anchors')).rows;
    await pool.end();
    const logs = rows.map((r) => r.log);
    expect(logs).toEqual(expect.arrayContaining([`${hostname()}:${a.auditFile}`, `${hostname()}:${b.auditFile}`]));
    expect(new Set(rows.map((r) => r.chain)).size).toBe(rows.length);
  });
});
