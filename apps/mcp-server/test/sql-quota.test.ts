import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '@stack/config';
import { loadMcpConfig } from '../src/config.ts';
import type { DemoToolsOptions, ToolContext } from '../src/tools/index.ts';
import { callTool, openDemoTools, rpc, startMcpServer } from './helpers.ts';

const MiB = 1024 * 1024;
const dev: ToolContext = { identity: { kind: 'oauth', subject: 'dev-1', role: 'developer', scopes: ['db:read', 'db:write'] }, requestId: 'req-1' };

const openTools = (opts: Omit<DemoToolsOptions, 'databasePath'> = {}) => openDemoTools(opts, dev);

let t: ReturnType<typeof openTools> | undefined;
afterEach(async () => { await t?.close(); t = undefined; });

describe('[HARD-SQL-DISK-QUOTA] execute_sql cannot grow the demo database past its quota', () => {
  const FULL = /^the demo database is full \(quota 2 MiB\): the statement was rolled back and changed nothing; /;

  it('a write that would pass the quota is a clear tool error, rolled back whole; the files stay bounded', async () => {
    t = openTools({ maxBytes: 2 * MiB, writeTimeoutMs: 5000, queryTimeoutMs: 5000 });
    expect((await t.call('execute_sql', { sql: 'CREATE TABLE blobs (b BLOB)' })).isError).toBe(false);
    // A few large commits: Three fit, the fourth would pass 2 MiB.
    for (let i = 0; i < 3; i++) expect((await t.call('execute_sql', { sql: 'INSERT INTO blobs VALUES (zeroblob(600000))' })).isError).toBe(false);
    const fourth = await t.call('execute_sql', { sql: 'INSERT INTO blobs VALUES (zeroblob(600000))' });
    expect(fourth).toMatchObject({ isError: true });
    expect(fourth.text).toMatch(FULL);
    expect(t.peek<number>('SELECT count(*) FROM blobs')).toBe(3);

    // One huge value, and an endless INSERT … SELECT: both stop at the quota, not at the time limit, and leave nothing.
    const huge = await t.call('execute_sql', { sql: 'INSERT INTO blobs VALUES (zeroblob(500000000))' });
    expect(huge.text).toMatch(FULL);
    const endless = await t.call('execute_sql', { sql: 'INSERT INTO blobs WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT randomblob(1000) FROM c' });
    expect(endless.text).toMatch(FULL);
    // A single value past SQLite's length limit is refused before any page is written.
    expect((await t.call('execute_sql', { sql: 'INSERT INTO blobs VALUES (zeroblob(1000000000))' })).text).toBe('database error: string or blob too big');
    expect(t.peek<number>('SELECT count(*) FROM blobs')).toBe(3);
    expect(t.size()).toBeLessThanOrEqual(2 * MiB);
    // The write-ahead log holds at most one write's pages (under the quota) plus the checkpoint interval.
    expect(t.size('-wal')).toBeLessThanOrEqual(2 * MiB + 4 * MiB);

    // Freeing space makes room again.
    expect((await t.call('execute_sql', { sql: 'DELETE FROM blobs' })).data).toMatchObject({ changes: 3 });
    expect((await t.call('execute_sql', { sql: 'INSERT INTO blobs VALUES (zeroblob(600000))' })).isError).toBe(false);
  });
});

describe('[HARD-SQL-DISK-QUOTA] the write-ahead log is bounded too', () => {
  it('writes while a long query holds an old snapshot are refused once the log passes the quota, and resume after it', async () => {
    t = openTools({ maxBytes: 2 * MiB, writeTimeoutMs: 5000 });
    expect((await t.call('execute_sql', { sql: 'CREATE TABLE blobs (b BLOB)' })).isError).toBe(false);
    expect((await t.call('execute_sql', { sql: 'INSERT INTO blobs VALUES (randomblob(600000))' })).isError).toBe(false);
    // A long-running query: its snapshot keeps every later commit in the log (no checkpoint can pass it).
    const reader = new Database(t.path, { readonly: true });
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM blobs').get();
    const results = [];
    for (let i = 0; i < 8; i++) results.push(await t.call('execute_sql', { sql: 'UPDATE blobs SET b = randomblob(600000)' }));
    expect(results.slice(0, 3).every((r) => !r.isError)).toBe(true);
    const refused = results.filter((r) => r.isError);
    expect(refused.length).toBeGreaterThan(0);
    for (const r of refused) expect(r.text).toMatch(/^the demo database is full \(quota 2 MiB\): its write-ahead log is waiting for long-running queries to finish; nothing was changed/);
    // Bounded: the log never starts a write above the quota, plus that one write.
    expect(t.size('-wal')).toBeLessThanOrEqual(2 * MiB + MiB);
    reader.exec('COMMIT');
    reader.close();
    expect((await t.call('execute_sql', { sql: 'UPDATE blobs SET b = randomblob(600000)' })).isError).toBe(false);
    expect(t.size('-wal')).toBeLessThanOrEqual(MiB);
  });
});

describe('[HARD-SQL-TEMP-BOUND] temporary data stays in the worker, whose memory is bounded', () => {
  it('a query sorting more than the memory limit allows is stopped with a clear error, and the next one works', async () => {
    t = openTools({ workerMemoryBytes: 200 * MiB, queryTimeoutMs: 20_000, sqlWorkers: 1 });
    // About 1 GB to sort: on disk (SQLite's default) this would fill temp files instead.
    const r = await t.call('query', { sql: 'SELECT x FROM (WITH RECURSIVE c(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM c LIMIT 5000000) SELECT n || randomblob(200) AS x FROM c) ORDER BY x' });
    expect(r).toMatchObject({ isError: true, text: 'the statement was stopped: it needed more than the memory limit of 200 MiB' });
    expect((await t.call('query', { sql: 'SELECT count(*) FROM users' })).data.rows).toEqual([[30]]);
  });
});

describe('[HARD-SQL-SETTINGS] the SQL tools\' limits are settings', () => {
  it('defaults, overrides, and every bad value reported together', () => {
    expect(loadMcpConfig({ NODE_ENV: 'test' }).sql).toEqual({
      workers: 2, queryTimeoutMs: 2000, writeTimeoutMs: 1000, workerMemoryBytes: 512 * MiB, demoDbMaxBytes: 256 * MiB,
    });
    expect(loadMcpConfig({
      NODE_ENV: 'test', MCP_SQL_WORKERS: '4', MCP_SQL_QUERY_TIMEOUT_MS: '5000', MCP_SQL_WRITE_TIMEOUT_MS: '700', MCP_SQL_WORKER_MEMORY_MB: '256', MCP_DEMO_DB_MAX_BYTES: String(64 * MiB),
    }).sql).toEqual({ workers: 4, queryTimeoutMs: 5000, writeTimeoutMs: 700, workerMemoryBytes: 256 * MiB, demoDbMaxBytes: 64 * MiB });
    let err: unknown;
    try {
      loadMcpConfig({ NODE_ENV: 'test', MCP_SQL_WORKERS: '0', MCP_SQL_WRITE_TIMEOUT_MS: '10', MCP_DEMO_DB_MAX_BYTES: '1000' });
    } catch (e) { err = e; }
    expect(err).toBeInstanceOf(ConfigError);
    for (const name of ['MCP_SQL_WORKERS', 'MCP_SQL_WRITE_TIMEOUT_MS', 'MCP_DEMO_DB_MAX_BYTES']) expect(String((err as Error).message)).toContain(name);
  });

  it('the server applies them to its demo tools', async () => {
    await using s = await startMcpServer(
      { MCP_AUTH_MODE: 'none', MCP_ALLOW_INSECURE_NO_AUTH: 'true', MCP_NO_AUTH_ROLE: 'developer', MCP_SQL_WRITE_TIMEOUT_MS: '300', MCP_DEMO_DB_MAX_BYTES: String(MiB) },
      { tools: undefined },
    );
    const text = async (sql: string) => ((await (await rpc(s.url, callTool('execute_sql', { sql }))).json()) as { result: { content: { text: string }[] } }).result.content[0]!.text;
    expect(await text('CREATE TABLE t AS SELECT count(*) AS n FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c)'))
      .toBe('the statement was stopped after the time limit of 300 ms');
    expect(await text('CREATE TABLE b AS SELECT zeroblob(2000000) AS b')).toMatch(/^the demo database is full \(quota 1 MiB\)/);
  });
});
