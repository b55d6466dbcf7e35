import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDemoTools, type ToolContext } from '../src/tools/index.ts';
import { defineTool } from '../src/tools/define-tool.ts';
import { ok } from '../src/tools/tool-result.ts';
import { invokeTool } from './invoke-tool.ts';
import { MAX_CELL_BYTES, MAX_REPLY_BYTES, MAX_RESULT_BYTES, MAX_ROW_BYTES } from '../src/message-limits.ts';

const viewer: ToolContext = { identity: { kind: 'oauth', subject: 'vera', role: 'viewer', scopes: ['db:read'] }, requestId: 'req-v' };
const developer: ToolContext = { identity: { kind: 'oauth', subject: 'dev', role: 'developer', scopes: ['db:read', 'db:write'] }, requestId: 'req-d' };
const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

describe('tool results are capped in the SQL worker and again in the main process', () => {
  let dir: string;
  let demo: ReturnType<typeof createDemoTools>;
  async function call(name: string, args: unknown, caller: ToolContext = viewer) {
    const r = await invokeTool(demo.tools.find((t) => t.name === name)!, args, caller);
    const text = (r.content[0] as { text: string }).text;
    return { r, text, isError: r.isError === true, data: r.isError ? undefined : JSON.parse(text) };
  }
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-limits-'));
    // A generous time limit: building an 80 MB string in the worker takes a while on a busy machine.
    demo = createDemoTools({ databasePath: join(dir, 'demo.db'), queryTimeoutMs: 30_000 });
  });
  afterAll(async () => {
    await demo.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('[HARD-MEM-CELL-CAP] a viewer\'s SELECT hex(zeroblob(40000000)) comes back as its first 64 KB and its length, far under the result cap', async () => {
    const q = await call('query', { sql: 'SELECT hex(zeroblob(40000000)) AS big, 7 AS seven' });
    expect(q.isError, q.text).toBe(false);
    expect(Buffer.byteLength(q.text)).toBeLessThan(MAX_CELL_BYTES + 4096);
    const [cell, seven] = q.data.rows[0];
    expect(cell.length).toBe(80_000_000);
    expect(cell.truncated_text).toMatch(/^0+$/);
    expect(cell.truncated_text.length).toBeGreaterThan(MAX_CELL_BYTES - 100);
    expect(seven).toBe(7);
    expect(q.data).toMatchObject({ rowCount: 1, truncated: true, truncatedReason: expect.stringContaining('shortened') });
  }, 60_000);

  it('[HARD-MEM-CELL-CAP] shortened text stays within the cap as JSON (escapes counted) and never splits a character', async () => {
    const control = await call('query', { sql: "SELECT replace(hex(zeroblob(100000)), '0', char(1)) AS c" });
    expect(bytes(control.data.rows[0][0])).toBeLessThanOrEqual(MAX_CELL_BYTES);
    expect(control.data.rows[0][0].length).toBe(200_000);
    const accents = await call('query', { sql: "SELECT replace(hex(zeroblob(100000)), '0', 'é') || 'tail' AS c" });
    const cut = accents.data.rows[0][0];
    expect(cut.length).toBe(200_004);
    expect(cut.truncated_text).toMatch(/^é+$/);
    expect(Buffer.byteLength(cut.truncated_text)).toBeLessThanOrEqual(MAX_CELL_BYTES);
    // Values under the cap are untouched and the result says nothing was cut.
    const small = await call('query', { sql: "SELECT hex(zeroblob(1000)) AS c, x'00ff' AS b" });
    expect(small.data).toEqual({ columns: ['c', 'b'], rows: [['00'.repeat(1000), { blob_bytes: 2, base64: 'AP8=' }]], rowCount: 1, truncated: false });
  });

  it('[HARD-MEM-ROW-CAP] a multi-row query whose first row is huge: the first row is capped, the total stops at the result cap', async () => {
    // Every row: five 200 KB text cells (1 MB of JSON each).
    const wide = Array.from({ length: 5 }, (_, i) => `hex(zeroblob(100000 + ${i})) AS c${i}`).join(', ');
    const q = await call('query', { sql: `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n LIMIT 20) SELECT x, ${wide} FROM n`, max_rows: 20 });
    expect(q.isError, q.text).toBe(false);
    expect(q.data.rowCount).toBeGreaterThanOrEqual(1);
    expect(q.data.rowCount).toBeLessThan(20);
    expect(q.data.rows[0][0]).toBe(1);
    for (const row of q.data.rows) expect(bytes(row)).toBeLessThanOrEqual(MAX_ROW_BYTES);
    expect(bytes({ columns: q.data.columns, rows: q.data.rows })).toBeLessThanOrEqual(MAX_RESULT_BYTES);
    expect(q.data.truncatedReason).toMatch(/result limit/);
    // One row of many columns that are each under the cell cap but together far over the row cap.
    const many = Array.from({ length: 40 }, (_, i) => `hex(zeroblob(30000)) AS k${i}`).join(', ');
    const one = await call('query', { sql: `SELECT ${many}` });
    expect(one.data.rowCount).toBe(1);
    expect(bytes(one.data.rows[0])).toBeLessThanOrEqual(MAX_ROW_BYTES);
    expect(one.data.rows[0][0]).toBe('00'.repeat(30000));
    expect(one.data.rows[0][39]).toEqual({ truncated_text: expect.stringMatching(/^0*$/), length: 60000 });
    expect(one.data.rows[0].filter((c: unknown) => typeof c === 'object')).toHaveLength(36);
    // RETURNING rows of execute_sql go through the same caps.
    const ret = await call('execute_sql', { sql: 'UPDATE users SET name = name WHERE id = 1 RETURNING hex(zeroblob(5000000)) AS big' }, developer);
    expect(ret.isError, ret.text).toBe(false);
    expect(ret.data.changes).toBe(1);
    expect(ret.data.result.rows[0][0].length).toBe(10_000_000);
    expect(Buffer.byteLength(ret.text)).toBeLessThan(MAX_CELL_BYTES + 4096);
  }, 30_000);

  it('[HARD-MEM-PAYLOAD-ONCE] a result carries its payload once: one JSON text block, no structuredContent copy', async () => {
    const q = await call('query', { sql: 'SELECT hex(zeroblob(30000)) AS c' });
    expect(q.r.structuredContent).toBeUndefined();
    expect(q.r.content).toHaveLength(1);
    // The whole result is barely larger than the payload itself.
    expect(bytes(q.r)).toBeLessThan(60_000 * 1.1);
  });

  it('[HARD-MEM-REPLY-CAP] the main process refuses a tool result over the reply cap with a clear tool error', async () => {
    expect(() => ok({ rows: ['x'.repeat(MAX_REPLY_BYTES)] })).toThrow(/the result is too large \(\d+ bytes, the limit is \d+\)/);
    const tool = defineTool({ name: 'big', title: 'big', description: 'big', inputSchema: {}, run: () => ok({ text: 'é'.repeat(MAX_REPLY_BYTES / 2) }) });
    const r = await tool.handler({}, viewer);
    expect(r.isError).toBe(true);
    expect((r.content[0] as { text: string }).text).toBe(`the result is too large (${MAX_REPLY_BYTES + 11} bytes, the limit is ${MAX_REPLY_BYTES}): ask for fewer rows or columns`);
    expect(bytes(r)).toBeLessThan(1000);
  });
});
