import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { DemoToolsOptions, ToolContext } from '../src/tools/index.ts';
import { openDemoTools } from './helpers.ts';

// How the SQL workers are shared between callers: a writer lane, fair dispatch across identities,
// a shorter limit for writes, and a cool-down for callers who keep hitting the time limit.
const ENDLESS = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c';
const COUNT_TO = 'WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT ?) SELECT count(*) FROM c';

const who = (subject: string, role: ToolContext['identity']['role'] = 'developer'): ToolContext => ({
  identity: { kind: 'oauth', subject, role, scopes: ['db:read', 'db:write', 'db:admin'] },
  requestId: `req-${subject}`,
});

const openTools = (opts: Omit<DemoToolsOptions, 'databasePath'> = {}) => openDemoTools(opts);

/** Rows COUNT_TO must count to take about `ms` on this machine (measured now, in this process). */
function rowsFor(ms: number): number {
  const db = new Database(':memory:');
  try {
    const stmt = db.prepare(COUNT_TO).pluck();
    const n = 1_000_000;
    const t0 = performance.now();
    stmt.get(n);
    return Math.round((n * ms) / Math.max(1, performance.now() - t0));
  } finally {
    db.close();
  }
}

const until = async (cond: () => boolean, ms = 20_000) => {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 10));
  }
};

let t: ReturnType<typeof openTools> | undefined;
afterEach(async () => { await t?.close(); t = undefined; });

describe('[HARD-SQL-WRITER-LANE] writes wait their turn in one writer lane instead of failing busy', () => {
  it("another developer's writes all succeed while one developer keeps running long writes", async () => {
    // Long enough to outlast SQLite's 1000 ms busy timeout, well inside the time limits.
    t = openTools({ queryTimeoutMs: 15_000, writeTimeoutMs: 15_000, sqlWorkers: 2 });
    const slowRows = rowsFor(1500);
    const alice = who('alice');
    const bob = who('bob');
    expect((await t.call('execute_sql', { sql: 'CREATE TABLE notes (who TEXT, n INTEGER)' }, alice)).isError).toBe(false);
    let stop = false;
    let aliceWrites = 0;
    const longWriter = (async () => {
      while (!stop) {
        const r = await t.call('execute_sql', { sql: `INSERT INTO notes SELECT 'alice', (${COUNT_TO})`, params: [slowRows] }, alice);
        expect(r.isError, r.text).toBe(false);
        aliceWrites++;
      }
    })();
    await until(() => aliceWrites >= 1); // alice's next long write is under way
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await t.call('execute_sql', { sql: "INSERT INTO notes VALUES ('bob', ?)", params: [i] }, bob));
    stop = true;
    await longWriter;
    expect(results.filter((r) => r.isError).map((r) => r.text)).toEqual([]);
    expect(t.peek<number>("SELECT count(*) FROM notes WHERE who = 'bob'")).toBe(5);
    expect(aliceWrites).toBeGreaterThanOrEqual(3); // alice's writes really ran between bob's
  });

  it('writes get their own, shorter time limit', async () => {
    t = openTools({ queryTimeoutMs: 3000, writeTimeoutMs: 400, sqlWorkers: 1 });
    const write = await t.call('execute_sql', { sql: `CREATE TABLE big AS ${ENDLESS}` }, who('alice'));
    expect(write.text).toBe('the statement was stopped after the time limit of 400 ms');
    expect(t.peek<number>("SELECT count(*) FROM sqlite_master WHERE name = 'big'")).toBe(0);
    const read = await t.call('query', { sql: COUNT_TO, params: [rowsFor(600)] }, who('alice'));
    expect(read.isError, read.text).toBe(false);
  });
});

describe('[HARD-SQL-FAIR-SCHEDULING] callers with endless statements cannot take every worker', () => {
  it("a third identity's quick query completes while two identities keep running endless queries", async () => {
    const LIMIT = 4000;
    t = openTools({ queryTimeoutMs: LIMIT, sqlWorkers: 2 });
    let stop = false;
    const stops: Record<string, number> = { a: 0, b: 0 };
    const loop = (name: 'a' | 'b') => (async () => {
      while (!stop) {
        const r = await t!.call('query', { sql: ENDLESS }, who(name, 'viewer'));
        expect(r.text).toMatch(/^the statement was stopped after the time limit/);
        stops[name]!++;
      }
    })();
    const loops = [loop('a'), loop('b')];
    // Once each has been stopped once, both are known to run long statements; both loops go on.
    await until(() => stops.a! >= 1 && stops.b! >= 1);
    // The stopped workers are being replaced; the next endless query of one of them is running.
    await new Promise((r) => setTimeout(r, LIMIT / 4));
    const before = stops.a! + stops.b!;
    const started = performance.now();
    const c = await t.call('query', { sql: 'SELECT 3 AS three' }, who('carol', 'viewer'));
    const latencyMs = performance.now() - started;
    // Answered before either endless query was stopped again: neither had to give up its worker.
    expect(stops.a! + stops.b!).toBe(before);
    expect(c.data).toEqual({ columns: ['three'], rows: [[3]], rowCount: 1, truncated: false });
    console.log(`[HARD-SQL-FAIR-SCHEDULING] third caller answered in ${Math.round(latencyMs)} ms under two endless queries (limit ${LIMIT} ms)`);
    stop = true;
    await Promise.all(loops);
  });
});

describe('[HARD-SQL-BACKOFF] a caller who keeps hitting the time limit is refused for a growing cool-down', () => {
  it('the third time-limit hit starts a cool-down; calls are refused with a retry time; a success resets it', async () => {
    t = openTools({ queryTimeoutMs: 300, sqlWorkers: 1, coolDownMs: 1500 });
    const mallory = who('mallory', 'viewer');
    const stopped = 'the statement was stopped after the time limit of 300 ms';
    expect((await t.call('query', { sql: ENDLESS }, mallory)).text).toBe(stopped);
    expect((await t.call('query', { sql: ENDLESS }, mallory)).text).toBe(stopped);
    const third = await t.call('query', { sql: ENDLESS }, mallory);
    expect(third.text).toBe(`${stopped}; after 3 or more stops in a row your new statements are refused for 2 s`);
    const refused = await t.call('query', { sql: 'SELECT 1' }, mallory);
    expect(refused).toMatchObject({ isError: true });
    expect(refused.text).toMatch(/^refused: your recent statements kept being stopped at the time or memory limit; try again in [12] s$/);
    // Others are not affected.
    expect((await t.call('query', { sql: 'SELECT 1 AS one' }, who('carol', 'viewer'))).data.rows).toEqual([[1]]);
    // After the cool-down: served again; one more hit doubles the cool-down (3 s).
    await new Promise((r) => setTimeout(r, 1600));
    expect((await t.call('query', { sql: ENDLESS }, mallory)).text).toBe(`${stopped}; after 3 or more stops in a row your new statements are refused for 3 s`);
    await new Promise((r) => setTimeout(r, 3100));
    // A statement that finishes resets the count: the next two hits are plain again.
    expect((await t.call('query', { sql: 'SELECT 1 AS one' }, mallory)).data.rows).toEqual([[1]]);
    expect((await t.call('query', { sql: ENDLESS }, mallory)).text).toBe(stopped);
    expect((await t.call('query', { sql: ENDLESS }, mallory)).text).toBe(stopped);
  });
});
