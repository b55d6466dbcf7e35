import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolContext } from '../src/tools/index.ts';
import { ALLOWED_FUNCTIONS, ALLOWED_TABLE_FUNCTIONS, DENIED_FUNCTIONS, DENIED_TABLE_FUNCTIONS } from '../src/tools/sql-allowlist.ts';
import { createSqlRunner } from '../src/tools/sql-runner.ts';
import { openDemoTools, type DemoTools } from './helpers.ts';

// Caller SQL may use only the allowed functions and table-valued functions: pragma_database_list
// would show the database file's path, and other pragma_* functions, dbstat and the rest are not
// needed by any tool.
const viewer: ToolContext = { identity: { kind: 'oauth', subject: 'vera', role: 'viewer', scopes: ['db:read'] }, requestId: 'req-v' };
const developer: ToolContext = { identity: { kind: 'oauth', subject: 'dev', role: 'developer', scopes: ['db:write'] }, requestId: 'req-d' };

let demo: DemoTools;
beforeAll(() => { demo = openDemoTools({}, viewer); });
afterAll(() => demo.close());

// [sql, the name the refusal must give]
const reads: [string, string][] = [
  ['SELECT * FROM pragma_database_list', 'pragma_database_list'],
  ['SELECT * FROM PRAGMA_database_list', 'pragma_database_list'],
  ['SELECT file FROM "pragma_database_list"', 'pragma_database_list'],
  ['SELECT file FROM `Pragma_Database_List`', 'pragma_database_list'],
  ["SELECT file FROM 'pragma_database_list'", 'pragma_database_list'],
  ['SELECT * FROM [pragma_table_info]', 'pragma_table_info'],
  ["SELECT name FROM pragma_table_info('users')", 'pragma_table_info'],
  ['SELECT * FROM main.pragma_database_list', 'pragma_database_list'],
  ['SELECT * FROM main /* a */ . /* b */ "PRAGMA_DATABASE_LIST"', 'pragma_database_list'],
  ['SELECT * FROM pragma_database_list /*x*/ ()', 'pragma_database_list'],
  ['SELECT * FROM pragma_database_list--x\n()', 'pragma_database_list'],
  ['SELECT (SELECT file FROM pragma_database_list) AS f', 'pragma_database_list'],
  ['SELECT * FROM users WHERE EXISTS (SELECT 1 FROM pragma_database_list WHERE file LIKE ?)', 'pragma_database_list'],
  ['WITH x AS (SELECT * FROM pragma_database_list) SELECT * FROM x', 'pragma_database_list'],
  ['SELECT * FROM users u JOIN pragma_database_list p ON 1', 'pragma_database_list'],
  ['SELECT * FROM pragma_function_list', 'pragma_function_list'],
  ['SELECT * FROM dbstat', 'dbstat'],
  ['SELECT subtype(8)', 'subtype()'],
  ['SELECT "sqlite_log"(1, ?)', 'sqlite_log()'],
  ['SELECT [fts3_tokenizer](\'simple\')', 'fts3_tokenizer()'],
  ['SELECT sqlite_compileoption_get(0)', 'sqlite_compileoption_get()'],
  ['SELECT "load_extension"(?)', 'load_extension()'],
  ['SELECT name FROM users WHERE id IN (SELECT length(SQLITE_COMPILEOPTION_USED(\'x\')))', 'sqlite_compileoption_used()'],
];

const writes: [string, string][] = [
  ["INSERT INTO products (name, sku, price_cents) SELECT file, 'x', 1 FROM pragma_database_list", 'pragma_database_list'],
  ['UPDATE users SET name = (SELECT file FROM main.pragma_database_list) WHERE id = 1', 'pragma_database_list'],
  ['CREATE VIEW leak AS SELECT * FROM pragma_database_list', 'pragma_database_list'],
  ['CREATE TABLE leak AS SELECT * FROM "pragma_database_list"', 'pragma_database_list'],
  ['CREATE TABLE blobs (a BLOB DEFAULT (subtype(16)))', 'subtype()'],
  ['CREATE VIRTUAL TABLE s USING dbstat', 'dbstat'],
  ['CREATE VIRTUAL TABLE f USING fts5(body)', 'fts5()'],
  ['CREATE VIRTUAL TABLE r USING rtree(id, x0, x1)', 'CREATE VIRTUAL TABLE'],
];

describe('[HARD-SQL-FUNCTION-ALLOWLIST] the SQL guard allows only listed functions and table-valued functions', () => {
  it('refuses pragma_* and other functions in query, however they are spelled, naming the function', async () => {
    for (const [sql, name] of reads) {
      const r = await demo.call('query', { sql, ...(sql.includes('?') ? { params: ['%'] } : {}) });
      expect(r.isError, sql).toBe(true);
      expect(r.text, sql).toContain(`${name} is not allowed`);
      expect(r.text, sql).not.toContain(demo.dir);
    }
  });

  it('refuses them in execute_sql too, and in statements that would store them for later', async () => {
    for (const [sql, name] of [...reads, ...writes]) {
      const r = await demo.call('execute_sql', { sql, ...(sql.includes('?') ? { params: ['%'] } : {}) }, developer);
      expect(r.isError, sql).toBe(true);
      expect(r.text, sql).toContain(`${name} is not allowed`);
      expect(r.text, sql).not.toContain(demo.dir);
    }
    const tables = await demo.call('list_tables', {});
    expect(tables.text).not.toMatch(/leak|blobs/);
  });

  it('allowed functions still work, in query and execute_sql', async () => {
    const r = await demo.call('query', {
      sql: "SELECT upper(name), length(email), json_extract(json_object('a', 1), '$.a'), date('2026-01-02', '+1 day'), " +
        "(SELECT group_concat(value, '-') FROM json_each('[1,2]')), max(1, 2), coalesce(NULL, 'x') FROM users WHERE name LIKE ? ORDER BY id LIMIT 1",
      params: ['Ada%'],
    });
    expect(r.isError, r.text).toBe(false);
    expect(r.data.rows).toEqual([['ADA LOVELACE', 24, 1, '2026-01-03', '1-2', 2, 'x']]);
    const a = await demo.call('query', { sql: 'SELECT round(avg(id), 1), count(*), total(id) FROM users' });
    expect(a.data.rows).toEqual([[15.5, 30, 465]]);
    const w = await demo.call('query', { sql: 'SELECT row_number() OVER (ORDER BY id), lag(id) OVER (ORDER BY id) FROM users LIMIT 2' });
    expect(w.data.rows).toEqual([[1, null], [2, 1]]);
    const e = await demo.call('execute_sql', { sql: "UPDATE products SET name = upper(substr(name, 1, 1)) || substr(name, 2) WHERE id = 1" }, developer);
    expect(e.isError, e.text).toBe(false);
  });
});

describe('[HARD-SQL-FUNCTION-ALLOWLIST] SQLite itself refuses what the guard would miss', () => {
  it('a statement that skipped the guard cannot read pragma_* or dbstat, or call a denied function', async () => {
    // The runner is what the tools call after the guard: sending SQL to it directly stands for a gap in the guard.
    const runner = createSqlRunner({ databasePath: demo.path, workers: 1, queryTimeoutMs: 10_000, writeTimeoutMs: 10_000, maxBytes: 256 * 1024 * 1024, memoryLimitBytes: 512 * 1024 * 1024 });
    try {
      for (const [sql, name] of reads) {
        const err = await runner.query(viewer, sql, sql.includes('?') ? ['%'] : [], 10).then(() => undefined, (e: Error) => e);
        expect(err?.message, sql).toContain(`${name} is not allowed`);
        expect(err?.message, sql).not.toContain(demo.dir);
      }
      for (const sql of ['CREATE TABLE blobs AS SELECT subtype(16) AS b', 'CREATE VIRTUAL TABLE s USING dbstat', 'CREATE VIRTUAL TABLE f USING fts5(body)']) {
        const err = await runner.execute(developer, sql, [], 10).then(() => undefined, (e: Error) => e);
        expect(err?.message, sql).toMatch(/not allowed|no such module/);
      }
    } finally {
      await runner.close();
    }
  });

  it('a view written earlier, which the guard cannot see through, is refused as well', async () => {
    const db = new Database(demo.path);
    db.exec('CREATE VIEW IF NOT EXISTS hidden_path AS SELECT file FROM pragma_database_list');
    db.exec('CREATE VIEW IF NOT EXISTS hidden_blob AS SELECT sqlite_compileoption_get(0) AS b');
    db.close();
    try {
      const p = await demo.call('query', { sql: 'SELECT * FROM hidden_path' });
      expect(p.isError).toBe(true);
      expect(p.text).toMatch(/unsafe use of virtual table|pragma_database_list is not allowed/);
      expect(p.text).not.toContain(demo.dir);
      const b = await demo.call('query', { sql: 'SELECT * FROM hidden_blob' });
      expect(b.isError).toBe(true);
      expect(b.text).toMatch(/sqlite_compileoption_get/);
    } finally {
      const cleanup = new Database(demo.path);
      cleanup.exec('DROP VIEW hidden_path; DROP VIEW hidden_blob');
      cleanup.close();
    }
  });

  it('every function and module of this SQLite build is classified (an upgrade that adds one fails here)', () => {
    const db = new Database(':memory:');
    try {
      const functions = db.prepare('SELECT DISTINCT name FROM pragma_function_list').pluck().all() as string[];
      expect(functions.filter((f) => !ALLOWED_FUNCTIONS.has(f) && !DENIED_FUNCTIONS.has(f))).toEqual([]);
      expect([...ALLOWED_FUNCTIONS].filter((f) => DENIED_FUNCTIONS.has(f))).toEqual([]);
      const modules = db.prepare('SELECT name FROM pragma_module_list').pluck().all() as string[];
      for (const m of modules) {
        if (ALLOWED_TABLE_FUNCTIONS.has(m) || DENIED_TABLE_FUNCTIONS.has(m) || m.startsWith('pragma_')) continue;
        // Any other module needs CREATE VIRTUAL TABLE (refused) before a statement can read it.
        expect(() => db.prepare(`SELECT * FROM "${m}"`), m).toThrow(/no such table|invalid arguments/);
      }
    } finally {
      db.close();
    }
  });
});
