import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ToolContext } from '../src/tools/index.ts';
import { seedDemoData } from '../src/tools/seed.ts';
import { checkWriteEffect, protectUsers, snapshotSchema, WriteRefused } from '../src/tools/sql-write-check.ts';
import { invokeTool } from './invoke-tool.ts';
import { openDemoTools, type DemoTools } from './helpers.ts';

// A developer may call execute_sql but not delete_users or drop_table: execute_sql must not be a
// way round that, however the SQL is spelt (better-sqlite3 has no authorizer callback).
const developer: ToolContext = { identity: { kind: 'oauth', subject: 'dev-1', role: 'developer', scopes: ['db:write'] }, requestId: 'req-d' };

let demo: DemoTools;

async function exec(sql: string) {
  const r = await invokeTool(demo.tool('execute_sql'), { sql }, developer);
  return { isError: r.isError === true, text: (r.content[0] as { text: string }).text };
}

const snapshot = () => demo.read((db) => ({
  objects: db.prepare("SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_autoindex%' ORDER BY 1").pluck().all(),
  users: db.prepare('SELECT count(*) FROM users').pluck().get(),
}));

beforeAll(() => {
  demo = openDemoTools();
  // Objects of every kind for DROP to aim at (created directly: execute_sql refuses triggers).
  const db = new Database(demo.path);
  db.exec('CREATE VIEW paid AS SELECT * FROM orders WHERE status = \'paid\'; CREATE TRIGGER keep AFTER UPDATE ON products BEGIN SELECT 1; END');
  db.close();
});
afterAll(() => demo.close());

describe('[MCP-TOOLS-ADMIN-ONLY] execute_sql refuses what the admin-only tools are for', () => {
  const deleteUsers = [
    'DELETE FROM users WHERE id = 1', 'delete from USERS', 'DELETE FROM "users"', 'DELETE FROM `users`', 'DELETE FROM [users]',
    "DELETE FROM 'users'", 'DELETE FROM main.users', 'DELETE FROM "main"."users"', 'DELETE FROM main . users', 'DELETE FROM "Users"',
    'DELETE/**/FROM/**/users', 'DELETE -- c\nFROM\n--\nusers', 'WITH doomed AS (SELECT 1) DELETE FROM users',
    'WITH RECURSIVE c(x) AS (SELECT 1) DELETE FROM main.[USERS] WHERE id IN c RETURNING id',
  ];
  const replaceUsers = [
    "REPLACE INTO users (id, name, email, role, created_at) VALUES (99, 'x', 'ada.lovelace@example.com', 'admin', 'now')",
    "INSERT OR REPLACE INTO main.\"users\" (id, name, email, role, created_at) VALUES (99, 'x', 'ada.lovelace@example.com', 'admin', 'now')",
    "UPDATE OR REPLACE users SET email = 'grace.lovelace@example.com' WHERE id = 1",
    "WITH v AS (SELECT 1) REPLACE INTO [users] SELECT 2, 'x', 'ada.lovelace@example.com', 'admin', 'now' FROM v",
  ];
  const drops = [
    'DROP TABLE orders', 'drop table if exists "orders"', 'DROP INDEX orders_user_id_idx', 'DROP VIEW paid', 'DROP TRIGGER keep',
    'ALTER TABLE orders DROP COLUMN status', 'ALTER TABLE products DROP sku', '/* x */ DROP/**/TABLE main.orders',
  ];
  const persistentCode = [
    'CREATE TRIGGER audit_users AFTER DELETE ON users BEGIN SELECT 1; END', 'create   trigger t AFTER INSERT ON orders BEGIN SELECT 1; END',
    'CREATE TEMP TRIGGER spy AFTER INSERT ON main.products BEGIN SELECT 1; END', "CREATE TEMP VIEW users AS SELECT 1 AS id, 'decoy' AS name",
    'CREATE TEMPORARY TABLE scratch (x)', "CREATE VIEW temp.users AS SELECT 1 AS id", 'CREATE TABLE "temp".scratch (x)',
  ];
  const alterUsers = ['ALTER TABLE users RENAME TO old_users', 'ALTER TABLE "main".[users] ADD COLUMN x'];

  it('refuses deleting users in any quoting, case, schema prefix, comment placement or CTE', async () => {
    for (const sql of deleteUsers) {
      const r = await exec(sql);
      expect(r.isError, sql).toBe(true);
      expect(r.text, sql).toBe("invalid argument 'sql': deleting from users is not allowed in execute_sql (an admin can delete users with delete_users)");
    }
    for (const sql of replaceUsers) expect((await exec(sql)).text, sql).toMatch(/^invalid argument 'sql': REPLACE on users is not allowed/);
    for (const sql of alterUsers) expect((await exec(sql)).text, sql).toMatch(/^invalid argument 'sql': ALTER TABLE users is not allowed/);
    expect(snapshot().users).toBe(30);
  });

  it('refuses DROP of tables, indexes, views, triggers and columns', async () => {
    const before = snapshot();
    for (const sql of drops) expect((await exec(sql)).text, sql).toMatch(/^invalid argument 'sql': DROP statements are not allowed in execute_sql/);
    expect(snapshot()).toEqual(before);
  });

  it('refuses triggers and temporary objects, which would outlive the call', async () => {
    const before = snapshot();
    for (const sql of persistentCode) {
      const r = await exec(sql);
      expect(r.isError, sql).toBe(true);
      expect(r.text, sql).toMatch(/^invalid argument 'sql': (CREATE TRIGGER|temporary tables, views and triggers) (is|are) not allowed/);
    }
    expect(snapshot()).toEqual(before);
    const q = await invokeTool(demo.tool('query'), { sql: 'SELECT count(*) FROM users' }, developer);
    expect(JSON.parse((q.content[0] as { text: string }).text)).toMatchObject({ rows: [[30]] });
  });

  it('still allows ordinary writes, views, renames of other tables, and replace() or REPLACE elsewhere', async () => {
    const allowed = [
      "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT UNIQUE ON CONFLICT REPLACE)",
      "INSERT OR REPLACE INTO notes (id, body) VALUES (1, 'a')",
      'ALTER TABLE notes RENAME TO memos',
      'CREATE VIEW big_spenders AS SELECT user_id FROM orders GROUP BY user_id HAVING count(*) > 2',
      "UPDATE users SET name = replace(name, 'Ada', 'Augusta') WHERE id = 1",
      "INSERT INTO users (name, email, role, created_at) VALUES ('New', 'new@example.com', 'viewer', 'now')",
      'DELETE FROM orders WHERE id = 1',
      'DELETE FROM users_archive_does_not_exist_yet WHERE 0',
    ];
    for (const sql of allowed.slice(0, -1)) expect((await exec(sql)).isError, sql).toBe(false);
    expect((await exec(allowed.at(-1)!)).text).toBe('database error: no such table: users_archive_does_not_exist_yet');
    expect(snapshot().users).toBe(31);
  });
});

describe('[MCP-TOOLS-ADMIN-ONLY] the worker re-checks the effect (backstop behind the text checks)', () => {
  function freshDb() {
    const db = new Database(':memory:');
    seedDemoData(db);
    db.pragma('foreign_keys = ON');
    db.pragma('recursive_triggers = ON');
    protectUsers(db);
    return db;
  }
  function attempt(db: Database.Database, sql: string): string | undefined {
    db.exec('BEGIN IMMEDIATE');
    try {
      const before = snapshotSchema(db);
      db.exec(sql);
      checkWriteEffect(db, before);
      db.exec('COMMIT');
      return undefined;
    } catch (err) {
      return err instanceof WriteRefused ? `refused: ${err.message}` : `sqlite: ${(err as Error).message}`;
    } finally {
      if (db.inTransaction) db.exec('ROLLBACK');
    }
  }

  it('SQLite itself refuses deleting users, including rows a REPLACE conflict would delete', () => {
    const db = freshDb();
    expect(attempt(db, 'DELETE FROM users')).toMatch(/^sqlite: deleting users is not allowed in execute_sql/);
    expect(attempt(db, "REPLACE INTO users (id, name, email, role, created_at) VALUES (99, 'x', 'ada.lovelace@example.com', 'admin', 'now')")).toMatch(/^sqlite: deleting users/);
    expect(attempt(db, 'ALTER TABLE users RENAME TO u2')).toBe('refused: renaming the users table is not allowed in execute_sql');
    expect(db.prepare('SELECT count(*) FROM users').pluck().get()).toBe(30);
  });

  it('rolls back drops, new triggers and temporary objects; allows renames of other tables', () => {
    const db = freshDb();
    expect(attempt(db, 'DROP TABLE orders')).toBe("refused: dropping table 'orders' is not allowed in execute_sql (an admin can drop a table with drop_table)");
    expect(attempt(db, 'DROP INDEX orders_user_id_idx')).toMatch(/^refused: dropping index 'orders_user_id_idx' is not allowed/);
    expect(attempt(db, 'CREATE TRIGGER t AFTER INSERT ON orders BEGIN SELECT 1; END')).toBe('refused: creating triggers is not allowed in execute_sql');
    expect(attempt(db, 'CREATE VIEW temp.users AS SELECT 1 AS id')).toMatch(/^refused: temporary tables, views and triggers are not allowed/);
    expect(attempt(db, 'ALTER TABLE products RENAME TO goods')).toBeUndefined();
    expect(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").pluck().all()).toEqual(['goods', 'orders', 'users']);
    expect(db.prepare('SELECT count(*) FROM temp.sqlite_master').pluck().get()).toBe(1); // only the guard trigger
  });
});
