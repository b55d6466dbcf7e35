import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createDemoTools } from '../src/tools/index.ts';
import { bearer, callTool, rpc, startIssuer, startMcpServer, type TestIssuer, type TestMcpServer } from './helpers.ts';

// Over real HTTP with the real demo tools: no statement a caller can influence runs on the
// server's event loop, and one caller cannot keep the SQL tools from everyone else.
const TIME_LIMIT_MS = 1000;
const ENDLESS = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';

let dir: string;
let path: string;
let demo: ReturnType<typeof createDemoTools>;
let issuer: TestIssuer;
let server: TestMcpServer;
const tokens: Record<'admin' | 'developer' | 'viewer', string> = { admin: '', developer: '', viewer: '' };

async function call(who: keyof typeof tokens, name: string, args: Record<string, unknown>) {
  const res = await rpc(server.url, callTool(name, args), bearer(tokens[who]));
  const body = await res.json() as { result: { isError?: boolean; content: { text: string }[] } };
  const text = body.result.content[0]!.text;
  return { isError: body.result.isError === true, text, data: body.result.isError ? undefined : JSON.parse(text) as Record<string, unknown> };
}

/**
 * Runs `during` while polling /health. Returns its result, how long it took, how many /health answers
 * came and the slowest. A statement on the event loop would hold one /health request for about the
 * whole statement; one in the worker leaves each answer a small part of it, however busy the machine.
 */
async function whilePollingHealth<T>(during: Promise<T>): Promise<{ result: T; elapsedMs: number; worstMs: number; polls: number }> {
  const started = Date.now();
  let done = false;
  let worstMs = 0;
  let polls = 0;
  const poller = (async () => {
    while (!done) {
      const t0 = Date.now();
      expect((await fetch(`${server.base}/health`)).status).toBe(200);
      worstMs = Math.max(worstMs, Date.now() - t0);
      polls++;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  const result = await during.finally(() => { done = true; });
  const elapsedMs = Date.now() - started;
  await poller;
  return { result, elapsedMs, worstMs, polls };
}

const peek = (sql: string) => {
  const db = new Database(path, { readonly: true });
  try { return db.prepare(sql).pluck().get(); } finally { db.close(); }
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'mcp-isolation-'));
  path = join(dir, 'demo.db');
  demo = createDemoTools({ databasePath: path, queryTimeoutMs: TIME_LIMIT_MS });
  issuer = await startIssuer();
  server = await startMcpServer({ AUTH_ISSUER: issuer.url, AUTH_JWKS_URL: `${issuer.url}/jwks` }, { tools: demo.tools });
  tokens.admin = await issuer.sign({ aud: server.url, role: 'admin', scope: 'db:admin', sub: 'admin-1' });
  tokens.developer = await issuer.sign({ aud: server.url, role: 'developer', scope: 'db:write', sub: 'dev-1' });
  tokens.viewer = await issuer.sign({ aud: server.url, role: 'viewer', scope: 'db:read', sub: 'viewer-1' });
});
afterAll(async () => {
  await server.close();
  await issuer.close();
  await demo.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('[MCP-TOOLS-ISOLATION] admin tools run in the SQL worker, under the time limit', () => {
  it('[MCP-TOOLS-ADMIN-ONLY] a developer cannot plant a trigger for an admin to run', async () => {
    expect((await call('developer', 'execute_sql', { sql: 'CREATE TABLE big (x)' })).isError).toBe(false);
    const fill = await call('developer', 'execute_sql', { sql: 'INSERT INTO big WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 1000) SELECT x FROM c' });
    expect(fill.data).toMatchObject({ changes: 1000 });
    const trigger = await call('developer', 'execute_sql', { sql: 'CREATE TRIGGER audit_users AFTER DELETE ON users BEGIN SELECT count(*) FROM big a, big b, big c; END' });
    expect(trigger).toMatchObject({ isError: true, text: "invalid argument 'sql': CREATE TRIGGER is not allowed in execute_sql" });
    expect(peek("SELECT count(*) FROM sqlite_master WHERE type = 'trigger'")).toBe(0);
  });

  it('delete_users firing an expensive trigger is stopped at the time limit while /health keeps answering', async () => {
    // A trigger already in the file (from before execute_sql refused them, or put there by hand).
    const db = new Database(path);
    db.exec('CREATE TRIGGER slow_users AFTER DELETE ON users BEGIN SELECT count(*) FROM big a, big b, big c; END');
    db.close();
    // The trigger's cross join would run for minutes: the answer naming the limit is the limit's timer.
    const { result, elapsedMs, worstMs, polls } = await whilePollingHealth(call('admin', 'delete_users', { ids: [2] }));
    expect(result).toEqual({ isError: true, text: `the statement was stopped after the time limit of ${TIME_LIMIT_MS} ms`, data: undefined });
    expect(elapsedMs).toBeGreaterThanOrEqual(TIME_LIMIT_MS);
    expect(polls).toBeGreaterThan(5);
    expect(worstMs).toBeLessThan(elapsedMs / 2);
    expect(peek('SELECT count(*) FROM users')).toBe(30); // the stopped delete was rolled back
  });

  it('drop_table whose foreign-key cascade fires an expensive trigger is stopped the same way', async () => {
    const db = new Database(path);
    db.exec('DROP TRIGGER slow_users; CREATE TRIGGER slow_orders AFTER DELETE ON orders BEGIN SELECT count(*) FROM big a, big b, big c; END');
    db.close();
    const { result, elapsedMs, worstMs, polls } = await whilePollingHealth(call('admin', 'drop_table', { table: 'users', confirm: true }));
    expect(result.text).toBe(`the statement was stopped after the time limit of ${TIME_LIMIT_MS} ms`);
    expect(polls).toBeGreaterThan(5);
    expect(worstMs).toBeLessThan(elapsedMs / 2);
    expect(peek("SELECT count(*) FROM sqlite_master WHERE name = 'users'")).toBe(1);
    expect(peek('SELECT count(*) FROM orders')).toBe(60);
    // Without the trigger the admin tools work as before.
    const drop = new Database(path);
    drop.exec('DROP TRIGGER slow_orders');
    drop.close();
    expect((await call('admin', 'delete_users', { ids: [2] })).data).toEqual({ deleted: 1, requested: 1 });
    expect((await call('admin', 'drop_table', { table: 'big', confirm: true })).data).toEqual({ dropped: 'big' });
  });
});

describe('[MCP-TOOLS-FAIR-SHARE] one caller cannot keep the SQL tools from others', () => {
  it("a viewer's flood of endless queries gets 'busy' beyond the first, and an admin's SELECT 1 still answers at once", async () => {
    let answered = 0;
    let stopped = false;
    const flood = Array.from({ length: 40 }, () => call('viewer', 'query', { sql: ENDLESS }).then((r) => {
      answered++;
      if (!/^busy/.test(r.text)) stopped = true;
      return r;
    }));
    // The 39 refusals come at once: then the viewer's one statement is running until the time limit.
    await vi.waitFor(() => expect(answered).toBe(39), { timeout: 10_000, interval: 10 });
    const admin = await call('admin', 'query', { sql: 'SELECT 1 AS one' });
    // "At once": the admin is not queued behind the viewer, whose statement is still running.
    expect(stopped).toBe(false);
    expect(admin.data).toEqual({ columns: ['one'], rows: [[1]], rowCount: 1, truncated: false });
    const results = await Promise.all(flood);
    expect(results.filter((r) => r.text === `the statement was stopped after the time limit of ${TIME_LIMIT_MS} ms`)).toHaveLength(1);
    const busy = results.filter((r) => r.isError && /^busy: your previous statement is still running/.test(r.text));
    expect(busy).toHaveLength(39);
    // Once the viewer's statement has ended, the viewer is served again.
    expect((await call('viewer', 'query', { sql: 'SELECT 2 AS two' })).data).toMatchObject({ rows: [[2]] });
  });
});
