import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolContext } from '../src/tools/index.ts';
import { openDemoTools, type DemoTools } from './helpers.ts';

// SQL injection through every argument of every tool: each attempt is refused, or bound as data.
const ctx: ToolContext = { identity: { kind: 'oauth', subject: 'mallory', role: 'admin', scopes: ['db:admin'] }, requestId: 'req-x' };

let demo: DemoTools;

const snapshot = () => demo.read((db) => ({
  tables: db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all(),
  users: db.prepare('SELECT count(*) FROM users').pluck().get(),
  orders: db.prepare('SELECT count(*) FROM orders').pluck().get(),
}));

const INTACT = { tables: ['orders', 'products', 'users'], users: 30, orders: 60 };

beforeAll(() => { demo = openDemoTools({}, ctx); });
afterAll(() => demo.close());

describe('[MCP-TOOLS-VALIDATE-INPUT] SQL injection through table names', () => {
  const names = ['users; DROP TABLE orders', 'users" --', 'users"; DROP TABLE orders; --', "users' OR '1'='1", 'users/**/', ' users', 'users\u0000'];
  it('describe_table and drop_table reject table names that are not plain identifiers', async () => {
    for (const table of names) {
      for (const [tool, args] of [['describe_table', { table }], ['drop_table', { table, confirm: true }]] as const) {
        const r = await demo.call(tool, args);
        expect(r.isError, `${tool} ${JSON.stringify(table)}`).toBe(true);
        expect(r.text).toMatch(/^invalid argument 'table'/);
      }
    }
    expect(snapshot()).toEqual(INTACT);
  });

  it('plain identifiers that are not user tables are refused (internal tables included)', async () => {
    for (const table of ['sqlite_master', 'sqlite_schema', 'nope', 'USERS_x']) {
      expect((await demo.call('describe_table', { table })).text).toMatch(/no table named/);
      expect((await demo.call('drop_table', { table, confirm: true })).text).toMatch(/no table named/);
    }
    expect((await demo.call('drop_table', { table: 'users', confirm: 'true' })).text).toMatch(/^invalid argument 'confirm'/);
    expect(snapshot()).toEqual(INTACT);
  });
});

describe('[MCP-TOOLS-VALIDATE-INPUT] SQL injection through delete_users ids', () => {
  it('rejects anything but 1..100 positive integers', async () => {
    const bad: unknown[] = [['1 OR 1=1'], ['1'], [1.5], [0], [-1], [Number.NaN], [null], '1,2', [1, '2); DROP TABLE orders; --'], Array.from({ length: 101 }, (_, i) => i + 1), { 0: 1 }];
    for (const ids of bad) {
      const r = await demo.call('delete_users', { ids });
      expect(r.isError, JSON.stringify(ids)).toBe(true);
      expect(r.text).toMatch(/^invalid argument 'ids/);
    }
    expect((await demo.call('delete_users', { ids: [1], where: '1=1' })).text).toMatch(/unknown argument 'where'/);
    expect(snapshot()).toEqual(INTACT);
  });
});

describe('[MCP-TOOLS-VALIDATE-INPUT] SQL injection through query', () => {
  const refused: [string, RegExp][] = [
    ['SELECT 1; DROP TABLE users', /exactly one statement/],
    ['SELECT 1;DROP TABLE users;', /exactly one statement/],
    ["SELECT ';'; DROP TABLE users", /exactly one statement/],
    ['SELECT 1 /* x */ ; DELETE FROM users', /exactly one statement/],
    ['SELECT 1\u0000; DROP TABLE users', /invalid argument 'sql': must not contain control characters/],
    ['DELETE FROM users', /only runs read-only statements/],
    ['DELETE FROM users RETURNING id', /only runs read-only statements/],
    ['UPDATE users SET role = \'admin\'', /only runs read-only statements/],
    ['DROP TABLE orders', /only runs read-only statements/],
    ['CREATE TEMP TABLE t AS SELECT * FROM users', /only runs read-only statements/],
    ["INSERT INTO users (name, email, role, created_at) VALUES ('m', 'm@x', 'admin', 'now')", /only runs read-only statements/],
    [`ATTACH '${'PATH'}' AS other`, /ATTACH statements are not allowed/],
    ['attach/**/database ? as other', /ATTACH statements are not allowed/],
    ['DETACH other', /DETACH statements are not allowed/],
    ['PRAGMA query_only = OFF', /PRAGMA statements are not allowed/],
    ['pragma table_info(users)', /PRAGMA statements are not allowed/],
    [`VACUUM INTO '${'PATH'}'`, /VACUUM statements are not allowed/],
    ["SELECT load_extension('/tmp/evil.so')", /LOAD_EXTENSION statements are not allowed/],
    ['BEGIN IMMEDIATE', /transaction control/],
  ];

  it('refuses multiple statements, writes, ATTACH, PRAGMA, VACUUM INTO and load_extension', async () => {
    const target = join(demo.dir, 'stolen.db');
    for (const [sql, message] of refused) {
      const r = await demo.call('query', { sql: sql.replace('PATH', target), params: sql.includes('?') ? [target] : undefined });
      expect(r.isError, sql).toBe(true);
      expect(r.text, sql).toMatch(message);
    }
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(demo.dir).sort()).toEqual(['demo.db', 'demo.db-shm', 'demo.db-wal']);
    expect(snapshot()).toEqual(INTACT);
  });

  it('keywords inside strings, quoted identifiers and comments are data, not statements', async () => {
    const r = await demo.call('query', { sql: "SELECT 'ATTACH; DROP TABLE users' AS \"pragma\" -- ; DROP TABLE orders" });
    expect(r.data.columns).toEqual(['pragma']);
    expect(r.data.rows).toEqual([['ATTACH; DROP TABLE users']]);
    expect(snapshot()).toEqual(INTACT);
  });

  it("binds params containing ' OR '1'='1 as plain values", async () => {
    const r = await demo.call('query', { sql: 'SELECT count(*) FROM users WHERE name = ?', params: ["' OR '1'='1"] });
    expect(r.data.rows).toEqual([[0]]);
    const d = await demo.call('query', { sql: 'SELECT ? AS v', params: ['1); DROP TABLE users; --'] });
    expect(d.data.rows).toEqual([['1); DROP TABLE users; --']]);
    expect(snapshot()).toEqual(INTACT);
  });
});

describe('[MCP-TOOLS-VALIDATE-INPUT] SQL injection through execute_sql', () => {
  it('refuses a second statement, file access and transaction control', async () => {
    const target = join(demo.dir, 'other.db');
    const cases: [string, RegExp][] = [
      ['DELETE FROM users WHERE id = 1; DROP TABLE orders', /exactly one statement/],
      ['CREATE TRIGGER t AFTER INSERT ON users BEGIN DELETE FROM orders; END; DROP TABLE orders', /exactly one statement/],
      [`ATTACH DATABASE '${target}' AS o`, /ATTACH statements are not allowed/],
      ['DETACH DATABASE main', /DETACH statements are not allowed/],
      ['PRAGMA foreign_keys = OFF', /PRAGMA statements are not allowed/],
      ['PRAGMA writable_schema = ON', /PRAGMA statements are not allowed/],
      [`VACUUM INTO '${target}'`, /VACUUM statements are not allowed/],
      ["SELECT load_extension('x')", /LOAD_EXTENSION statements are not allowed/],
      ['BEGIN', /transaction control/],
      ['SAVEPOINT s', /transaction control/],
      ['COMMIT', /transaction control/],
    ];
    for (const [sql, message] of cases) {
      const r = await demo.call('execute_sql', { sql });
      expect(r.isError, sql).toBe(true);
      expect(r.text, sql).toMatch(message);
    }
    expect(existsSync(target)).toBe(false);
    expect(snapshot()).toEqual(INTACT);
  });

  it('binds params as values, so quotes and semicolons are stored verbatim', async () => {
    const evil = "x'); DROP TABLE orders; --";
    const r = await demo.call('execute_sql', { sql: "INSERT INTO users (name, email, role, created_at) VALUES (?, ?, 'viewer', '2026-01-01')", params: [evil, "' OR '1'='1"] });
    expect(r.isError).toBe(false);
    expect(r.data.changes).toBe(1);
    const back = await demo.call('query', { sql: 'SELECT name, email FROM users WHERE id = ?', params: [r.data.lastInsertRowid] });
    expect(back.data.rows).toEqual([[evil, "' OR '1'='1"]]);
    const del = await demo.call('execute_sql', { sql: 'UPDATE users SET role = role WHERE name = ?', params: ["' OR '1'='1"] });
    expect(del.data.changes).toBe(0);
    await demo.call('delete_users', { ids: [r.data.lastInsertRowid] });
    expect(snapshot()).toEqual(INTACT);
  });

  it('a single CREATE TRIGGER with several statements in its body is one statement (refused as a trigger, not as two statements)', async () => {
    const r = await demo.call('execute_sql', { sql: "CREATE TRIGGER audit_noop AFTER UPDATE ON products BEGIN SELECT CASE WHEN 1 THEN 1 END; SELECT 2; END" });
    expect(r.isError).toBe(true);
    expect(r.text).toBe("invalid argument 'sql': CREATE TRIGGER is not allowed in execute_sql");
  });
});
