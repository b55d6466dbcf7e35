import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { createDemoTools, type ToolContext } from '../src/tools/index.ts';
import { invokeTool } from './invoke-tool.ts';
import { startMcpServer } from './helpers.ts';

const ctx: ToolContext = { identity: { kind: 'oauth', subject: 'alice', role: 'admin', scopes: ['db:read', 'db:write', 'db:admin'] }, requestId: 'req-1' };

function openTools(opts: { maxRows?: number; queryTimeoutMs?: number; sqlWorkers?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-tools-'));
  const path = join(dir, 'demo.db');
  const demo = createDemoTools({ databasePath: path, ...opts });
  const byName = new Map(demo.tools.map((t) => [t.name, t]));
  async function call(name: string, args: unknown, caller: ToolContext = ctx) {
    const r = await invokeTool(byName.get(name)!, args, caller);
    const text = (r.content[0] as { text: string }).text;
    return { isError: r.isError === true, text, data: r.isError ? undefined : JSON.parse(text), structured: r.structuredContent, content: r.content };
  }
  const peek = <T>(sql: string): T => {
    const db = new Database(path, { readonly: true });
    try { return db.prepare(sql).pluck().get() as T; } finally { db.close(); }
  };
  return { dir, path, demo, call, peek, async close() { await demo.close(); rmSync(dir, { recursive: true, force: true }); } };
}

type Tools = ReturnType<typeof openTools>;

describe('demo tools: catalogue and seed data', () => {
  let t: Tools;
  beforeAll(() => { t = openTools(); });
  afterAll(() => t.close());

  it('exposes the six tools with zod input shapes and honest annotations', () => {
    const tools = Object.fromEntries(t.demo.tools.map((x) => [x.name, x]));
    expect(Object.keys(tools).sort()).toEqual(['delete_users', 'describe_table', 'drop_table', 'execute_sql', 'list_tables', 'query']);
    for (const name of ['list_tables', 'describe_table', 'query']) expect(tools[name]!.annotations?.readOnlyHint).toBe(true);
    for (const name of ['execute_sql', 'delete_users', 'drop_table']) expect(tools[name]!.annotations?.destructiveHint).toBe(true);
    expect(Object.keys(tools.query!.inputSchema).sort()).toEqual(['max_rows', 'params', 'sql']);
    expect(Object.keys(tools.drop_table!.inputSchema).sort()).toEqual(['confirm', 'table']);
  });

  it('[MCP-TOOLS-VALIDATE-INPUT] served with their strict schemas, unknown keys are refused before the handler', async () => {
    await using s = await startMcpServer({ MCP_AUTH_MODE: 'none', MCP_ALLOW_INSECURE_NO_AUTH: 'true', MCP_NO_AUTH_ROLE: 'admin' }, { tools: t.demo.tools });
    const client = new Client({ name: 'test', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.url)));
    try {
      const { tools } = await client.listTools();
      const describeTable = tools.find((x) => x.name === 'describe_table')!;
      expect(describeTable.inputSchema).toMatchObject({ additionalProperties: false, required: ['table'], properties: { table: { maxLength: 64, pattern: '^[A-Za-z_][A-Za-z0-9_]*$' } } });
      const extra = await client.callTool({ name: 'query', arguments: { sql: 'SELECT 1', evil: 1 } });
      expect(extra.isError).toBe(true);
      expect(JSON.stringify(extra.content)).toMatch(/unknown argument 'evil'/);
      const okCall = await client.callTool({ name: 'query', arguments: { sql: 'SELECT 1 AS one' } });
      expect(JSON.parse((okCall.content as { text: string }[])[0]!.text)).toEqual({ columns: ['one'], rows: [[1]], rowCount: 1, truncated: false });
    } finally {
      await client.close();
    }
  });

  it('seeds users, products and orders on first start', async () => {
    const r = await t.call('list_tables', {});
    expect(r.isError).toBe(false);
    expect(r.data.tables).toEqual(['orders', 'products', 'users']);
    // The payload is carried once, as JSON text (tool-result.ts).
    expect(r.structured).toBeUndefined();
    expect(r.content).toHaveLength(1);
    expect(t.peek<number>('SELECT count(*) FROM users')).toBe(30);
    expect(t.peek<number>('SELECT count(*) FROM products')).toBe(12);
    expect(t.peek<number>('SELECT count(*) FROM orders')).toBe(60);
  });

  it('describe_table reports columns, indexes, foreign keys and the row count', async () => {
    const r = await t.call('describe_table', { table: 'orders' });
    expect(r.isError).toBe(false);
    expect(r.data.table).toBe('orders');
    expect(r.data.rowCount).toBe(60);
    expect(r.data.columns[0]).toEqual({ name: 'id', type: 'INTEGER', notnull: false, pk: true, defaultValue: null });
    expect(r.data.columns.find((c: { name: string }) => c.name === 'user_id')).toMatchObject({ type: 'INTEGER', notnull: true, pk: false });
    expect(r.data.indexes.map((i: { name: string }) => i.name)).toEqual(['orders_product_id_idx', 'orders_user_id_idx']);
    expect(r.data.indexes[1].columns).toEqual(['user_id']);
    expect(r.data.foreignKeys).toContainEqual({ column: 'user_id', references: 'users', referencedColumn: 'id', onDelete: 'CASCADE' });
    const users = await t.call('describe_table', { table: 'users' });
    expect(users.data.indexes).toContainEqual(expect.objectContaining({ unique: true, columns: ['email'] }));
  });

  it('query returns columns and rows with positional parameters', async () => {
    const r = await t.call('query', { sql: 'SELECT id, name, role FROM users WHERE role = ? AND id <= ? ORDER BY id', params: ['admin', 10] });
    expect(r.isError).toBe(false);
    expect(r.data.columns).toEqual(['id', 'name', 'role']);
    expect(r.data.rows).toEqual([[1, 'Ada Lovelace', 'admin'], [6, 'Donald Lovelace', 'admin']]);
    expect(r.data.truncated).toBe(false);
    const join = await t.call('query', {
      sql: 'SELECT u.name, sum(o.quantity * p.price_cents) AS spent FROM orders o JOIN users u ON u.id = o.user_id JOIN products p ON p.id = o.product_id GROUP BY u.id ORDER BY spent DESC LIMIT 3',
    });
    expect(join.data.rows).toHaveLength(3);
  });

  it('[MCP-TOOLS-VALIDATE-INPUT] query limits rows: default 100, max_rows, and at most 1000', async () => {
    const many = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 5000) SELECT x FROM c';
    const def = await t.call('query', { sql: many });
    expect(def.data.rowCount).toBe(100);
    expect(def.data.truncated).toBe(true);
    const five = await t.call('query', { sql: many, max_rows: 5 });
    expect(five.data.rows).toEqual([[1], [2], [3], [4], [5]]);
    expect(five.data.truncated).toBe(true);
    const max = await t.call('query', { sql: many, max_rows: 1000 });
    expect(max.data.rowCount).toBe(1000);
    const over = await t.call('query', { sql: many, max_rows: 1001 });
    expect(over.isError).toBe(true);
    expect(over.text).toMatch(/invalid argument 'max_rows'/);
  });

  it('[MCP-TOOLS-VALIDATE-INPUT] zod rejects unknown keys, over-long strings and too many params', async () => {
    const cases: [string, unknown, RegExp][] = [
      ['list_tables', { extra: 1 }, /unknown argument 'extra'/],
      ['query', { sql: 'SELECT 1', limit: 5 }, /unknown argument 'limit'/],
      ['query', { sql: `SELECT '${'a'.repeat(10_000)}'` }, /invalid argument 'sql'/],
      ['query', { sql: '' }, /invalid argument 'sql'/],
      ['query', { sql: 'SELECT ?', params: [{ nested: true }] }, /invalid argument 'params.0'/],
      ['query', { sql: 'SELECT ?', params: ['x'.repeat(1001)] }, /invalid argument 'params.0'/],
      ['query', { sql: 'SELECT 1', params: Array(101).fill(1) }, /invalid argument 'params'/],
      ['describe_table', { table: 'a'.repeat(65) }, /invalid argument 'table'/],
      ['describe_table', {}, /invalid argument 'table'/],
      ['execute_sql', { sql: 'SELECT 1', params: [true] }, /invalid argument 'params.0'/],
      ['delete_users', { ids: [] }, /invalid argument 'ids'/],
      ['drop_table', { table: 'users', confirm: false }, /invalid argument 'confirm'/],
      ['drop_table', { table: 'users' }, /invalid argument 'confirm'/],
    ];
    for (const [tool, args, message] of cases) {
      const r = await t.call(tool, args);
      expect(r.isError, `${tool} ${JSON.stringify(args).slice(0, 60)}`).toBe(true);
      expect(r.text).toMatch(message);
    }
    expect(t.peek<number>('SELECT count(*) FROM users')).toBe(30);
  });

  it('[MCP-TOOLS-ISERROR] reports database errors as isError results without paths or stack traces', async () => {
    const r = await t.call('query', { sql: 'SELECT * FROM no_such_table' });
    expect(r.isError).toBe(true);
    expect(r.text).toBe('database error: no such table: no_such_table');
    const bad = await t.call('query', { sql: 'SELEC 1' });
    expect(bad.isError).toBe(true);
    expect(bad.text).toMatch(/^database error: near "SELEC": syntax error$/);
    const params = await t.call('query', { sql: 'SELECT ?', params: [1, 2] });
    expect(params.isError).toBe(true);
    for (const x of [r, bad, params]) {
      expect(x.text).not.toContain(t.dir);
      expect(x.text).not.toMatch(/\n\s+at /);
    }
  });
});

describe('demo tools: changes', () => {
  let t: Tools;
  afterEach(() => t.close());

  it('seeds only once: a restart keeps changed data', async () => {
    t = openTools();
    expect((await t.call('delete_users', { ids: [1, 2, 3] })).data).toEqual({ deleted: 3, requested: 3 });
    await t.demo.close();
    const again = createDemoTools({ databasePath: t.path });
    await again.close();
    expect(t.peek<number>('SELECT count(*) FROM users')).toBe(27);
  });

  it('execute_sql inserts, updates with RETURNING and creates tables', async () => {
    t = openTools();
    const ins = await t.call('execute_sql', { sql: 'INSERT INTO products (name, sku, price_cents, stock) VALUES (?, ?, ?, ?)', params: ['Pen', 'SKU-9', 150, 3] });
    expect(ins.isError).toBe(false);
    expect(ins.data).toEqual({ changes: 1, lastInsertRowid: 13 });
    const upd = await t.call('execute_sql', { sql: 'UPDATE products SET stock = stock + 1 WHERE id IN (1, 2) RETURNING id, stock' });
    expect(upd.data.changes).toBe(2);
    expect(upd.data.result.columns).toEqual(['id', 'stock']);
    expect(upd.data.result.rows).toEqual([[1, 1], [2, 8]]);
    const create = await t.call('execute_sql', { sql: 'CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT)' });
    expect(create.isError).toBe(false);
    await t.call('execute_sql', { sql: 'INSERT INTO notes (body) VALUES (?)', params: ['hello'] });
    // sqlite_sequence now exists; it is internal and not listed.
    expect((await t.call('list_tables', {})).data.tables).toEqual(['notes', 'orders', 'products', 'users']);
    const constraint = await t.call('execute_sql', { sql: 'INSERT INTO users (name, email, role, created_at) VALUES (?, ?, ?, ?)', params: ['x', 'ada.lovelace@example.com', 'admin', 'now'] });
    expect(constraint.isError).toBe(true);
    expect(constraint.text).toBe('database error: UNIQUE constraint failed: users.email');
  });

  it('delete_users deletes by id (orders with them) and reports the count', async () => {
    t = openTools();
    const ordersOf1 = t.peek<number>('SELECT count(*) FROM orders WHERE user_id = 1');
    expect(ordersOf1).toBeGreaterThan(0);
    const r = await t.call('delete_users', { ids: [1, 2, 2, 999] });
    expect(r.data).toEqual({ deleted: 2, requested: 3 });
    expect(t.peek<number>('SELECT count(*) FROM users')).toBe(28);
    expect(t.peek<number>('SELECT count(*) FROM orders WHERE user_id IN (1, 2)')).toBe(0);
  });

  it('drop_table drops an existing table and refuses one that no longer exists', async () => {
    t = openTools();
    const r = await t.call('drop_table', { table: 'orders', confirm: true });
    expect(r.data).toEqual({ dropped: 'orders' });
    expect((await t.call('list_tables', {})).data.tables).toEqual(['products', 'users']);
    const again = await t.call('drop_table', { table: 'orders', confirm: true });
    expect(again.isError).toBe(true);
    expect(again.text).toBe("invalid argument 'table': no table named 'orders' (tables: products, users)");
  });

  it('[MCP-TOOLS-VALIDATE-INPUT] a query that never ends is stopped at the time limit, and the next one works', async () => {
    t = openTools({ queryTimeoutMs: 500, sqlWorkers: 1 });
    await t.call('query', { sql: 'SELECT 1' }); // worker started
    // The statement never ends and the default limit is 2000 ms: the answer naming 500 ms is the 500 ms timer's.
    const started = Date.now();
    const r = await t.call('query', { sql: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c' });
    expect(r.isError).toBe(true);
    expect(r.text).toBe('the statement was stopped after the time limit of 500 ms');
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    const forever = await t.call('execute_sql', { sql: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c' });
    expect(forever.text).toBe('the statement was stopped after the time limit of 500 ms');
    const next = await t.call('query', { sql: 'SELECT count(*) FROM users' });
    expect(next.data.rows).toEqual([[30]]);
    // Another caller's statement queued behind one that gets stopped still runs (on a fresh worker).
    const bob: ToolContext = { ...ctx, identity: { ...ctx.identity, subject: 'bob' } };
    const [slow, queued] = await Promise.all([
      t.call('query', { sql: 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT max(x) FROM c' }),
      t.call('query', { sql: 'SELECT 2 AS two' }, bob),
    ]);
    expect(slow.isError).toBe(true);
    expect(queued.data.rows).toEqual([[2]]);
    // A write that was stopped half-way is rolled back, and the write lock is free again.
    const stoppedWrite = await t.call('execute_sql', { sql: 'INSERT INTO products (name, sku, price_cents) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT ?, ? || x, 1 FROM c', params: ['bulk', 'B-'] });
    expect(stoppedWrite.isError).toBe(true);
    expect(t.peek<number>('SELECT count(*) FROM products')).toBe(12);
    expect((await t.call('delete_users', { ids: [30] })).data.deleted).toBe(1);
  });

  it('the configured maxRows is the default row limit', async () => {
    t = openTools({ maxRows: 7 });
    expect((await t.call('query', { sql: 'SELECT id FROM users' })).data.rowCount).toBe(7);
  });
});
