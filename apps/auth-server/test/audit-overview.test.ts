import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AuditLog, verifyAuditPath } from '@stack/audit';
import { budget, entriesNewestFirst, AuditLogUnreadable, type AuditEntry } from '../src/services/audit-files.ts';
import { HOUR_MS, signInsPerHour, toolCallsPerHour } from '../src/services/audit-overview.ts';
import { auditPage, decisionOf } from '../src/services/audit-search.ts';
import { hourlyChart, niceMax } from '../src/services/admin-charts.ts';
import { statusOf } from '../src/services/audit-check.ts';
import { TEST_AUDIT_KEYS } from './helpers.ts';

// Half past 12:00 UTC: the current hour is 12:00, the window starts at 13:00 the day before.
const NOW = Date.UTC(2026, 5, 1, 12, 30);
const line = (minutesAgo: number, fields: Record<string, unknown>, seq?: number): AuditEntry => ({ seq, time: NOW - minutesAgo * 60_000, fields });

describe('admin overview counts (fixture lines)', () => {
  it('[ADMIN-OVERVIEW-1] sign-ins per UTC hour: successes and failures as the metrics count them, other events ignored', () => {
    const hours = signInsPerHour([
      line(0, { event: 'login.succeeded' }),
      line(29, { event: 'login.failed' }),
      line(31, { event: 'mfa.failed' }),
      line(31, { event: 'federation.refused' }),
      line(40, { event: 'consent.granted' }),
      line(60 * 23 + 29, { event: 'login.succeeded' }),
    ], NOW);
    expect(hours).toHaveLength(24);
    expect(hours[23]).toEqual({ start: Date.UTC(2026, 5, 1, 12), success: 1, failure: 1 });
    expect(hours[22]).toMatchObject({ success: 0, failure: 2 });
    expect(hours[0]).toMatchObject({ start: Date.UTC(2026, 4, 31, 13), success: 1 });
  });

  it('[ADMIN-OVERVIEW-5] counting stops at the first line older than the window (lines are in time order)', () => {
    let read = 0;
    function* entries(): Generator<AuditEntry> {
      for (const minutes of [10, 20, 60 * 24, 30]) {
        read++;
        yield line(minutes, { event: 'login.succeeded' });
      }
    }
    const hours = signInsPerHour(entries(), NOW);
    expect(hours.reduce((n, h) => n + h.success, 0)).toBe(2);
    expect(read).toBe(3);
  });

  it('[ADMIN-OVERVIEW-2] tool calls: allowed, denied and rate-limited tools/call decisions per hour; the most denied tools, most first', () => {
    const call = (m: number, decision: string, tool: string) => line(m, { event: 'mcp.decision', method: 'tools/call', decision, tool });
    const r = toolCallsPerHour([
      call(1, 'ALLOWED', 'a'), call(2, 'DENIED', 'b'), call(3, 'DENIED', 'c'), call(4, 'DENIED', 'c'), call(5, 'RATE_LIMITED', 'a'),
      call(6, 'AUTH_FAILED', 'a'), call(7, 'ERROR', 'a'),
      line(8, { event: 'mcp.decision', method: 'tools/list', decision: 'ALLOWED' }),
      line(9, { event: 'audit.failures_summarized', decision: 'deny', count: 40 }),
      call(61, 'ALLOWED', 'a'),
    ], NOW);
    expect(r.hours[23]).toMatchObject({ allowed: 1, denied: 3, rateLimited: 1 });
    expect(r.hours[22]).toMatchObject({ allowed: 1, denied: 0, rateLimited: 0 });
    expect(r.topDenied).toEqual([{ tool: 'c', count: 2 }, { tool: 'b', count: 1 }]);
  });

  it('[ADMIN-OVERVIEW-4] an hourly chart: stacked bars scaled to a round maximum, ticks, hour labels, a description and the numbers', () => {
    expect([0, 1, 2, 3, 7, 10, 11, 140].map(niceMax)).toEqual([1, 1, 2, 5, 10, 10, 20, 200]);
    const hours = Array.from({ length: 24 }, (_, i) => ({ start: NOW - (23 - i) * HOUR_MS, success: i === 23 ? 3 : 0, failure: i === 23 ? 1 : 0 }));
    const c = hourlyChart('x', 'Sign-ins', hours, [{ key: 'success', label: 'Successes', cls: 'chart-s0' }, { key: 'failure', label: 'Failures', cls: 'chart-s1' }]);
    expect(c.grid.map((g) => g.label)).toEqual(['0', '2.5', '5']);
    const bar = c.bars[23]!;
    expect(bar.segments.map((s) => s.cls)).toEqual(['chart-s0', 'chart-s1']);
    // 3 of 5 and 1 of 5 of the plot's height (212), stacked from the axis.
    expect(bar.segments[0]).toMatchObject({ height: 127.2, y: 224 - 127.2 });
    expect(bar.segments[1]!.height).toBe(42.4);
    expect(c.bars[0]!.segments).toEqual([]);
    expect(c.xLabels.map((l) => l.label)).toEqual(['13:00', '19:00', '01:00', '07:00']);
    expect(c.desc).toBe('Per hour over the last 24 hours (UTC): 3 successes, 1 failures in total; the busiest hour was 12:00 with 4.');
    expect(c.table.rows[23]).toEqual(['12:00', '3', '1']);
  });
});

describe('audit page search (fixture lines)', () => {
  const entries = [
    line(1, { event: 'mcp.decision', decision: 'DENIED', tool: 'Drop_Table', identity: 'u-1', client: 'cli-9' }, 5),
    line(2, { event: 'mcp.decision', decision: 'RATE_LIMITED', tool: 'sql', identity: 'u-2' }, 4),
    line(3, { event: 'login.failed', decision: 'deny', email: 'Ann@Example.com' }, 3),
    line(4, { event: 'login.rate_limited', decision: 'deny', user: 'u-1' }, 2),
    line(90, { event: 'consent.granted', decision: 'allow', user: 'u-1', by: 'admin-1' }, 1),
  ];

  it('[ADMIN-AUDIT-1] decisions of both apps map to one filter; who, tool (any case) and time narrow the lines', () => {
    expect(entries.map((e) => decisionOf(e.fields))).toEqual(['deny', 'rate_limited', 'deny', 'rate_limited', 'allow']);
    const seqs = (f: Parameters<typeof auditPage>[1]) => auditPage(entries, f, 50).rows.map((r) => r.seq);
    expect(seqs({ who: ['u-1'] })).toEqual([5, 2, 1]);
    expect(seqs({ who: ['ann@example.com'] })).toEqual([3]);
    expect(seqs({ who: ['admin-1'] })).toEqual([1]);
    expect(seqs({ tool: 'drop' })).toEqual([5]);
    expect(seqs({ decision: 'rate_limited' })).toEqual([4, 2]);
    expect(seqs({ from: NOW - 3.5 * 60_000, to: NOW - 1.5 * 60_000 })).toEqual([4, 3]);
  });

  it('[ADMIN-AUDIT-3] a page holds `size` lines and names the seq to continue below; reading stops at `from`', () => {
    const first = auditPage(entries, {}, 2);
    expect(first.rows.map((r) => r.seq)).toEqual([5, 4]);
    expect(first.next).toBe(4);
    expect(auditPage(entries, { before: 4 }, 2).rows.map((r) => r.seq)).toEqual([3, 2]);
    expect(auditPage(entries, { before: 2 }, 2)).toMatchObject({ rows: [{ seq: 1 }], next: undefined });
    let read = 0;
    const counted = (function* () { for (const e of entries) { read++; yield e; } })();
    auditPage(counted, { from: NOW - 10 * 60_000 }, 50);
    expect(read).toBe(5);
    expect(auditPage(entries, {}, 50).rows[0]).toMatchObject({ time: '2026-06-01 12:29:00 UTC', who: 'u-1', client: 'cli-9', tool: 'Drop_Table', decision: 'DENIED' });
  });
});

describe('reading an audit log newest first', () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-read-'));
  afterAll(() => { rmSync(dir, { recursive: true, force: true }); });

  it('[ADMIN-AUDIT-3] [ADMIN-OVERVIEW-5] lines come newest first across the rotated files of the chain, within the byte budget', async () => {
    const file = join(dir, 'mcp-audit.log');
    const log = await AuditLog.open({ file, keys: TEST_AUDIT_KEYS, maxFileBytes: 4096, now: () => new Date(NOW) });
    for (let i = 0; i < 40; i++) log.write({ event: 'mcp.decision', n: i });
    await log.close();
    expect(readdirSync(dir).length).toBeGreaterThanOrEqual(3);
    const all = [...entriesNewestFirst(file, budget(1 << 20))].filter((e) => e.fields.event === 'mcp.decision');
    expect(all.map((e) => e.fields.n)).toEqual(Array.from({ length: 40 }, (_, i) => 39 - i));
    const limit = budget(2000);
    const some = [...entriesNewestFirst(file, limit)];
    expect(limit.exhausted).toBe(true);
    expect(some.length).toBeGreaterThan(0);
    expect(some.length).toBeLessThan(10);
    // A line cut short or not JSON is skipped.
    writeFileSync(join(dir, 'odd.log'), '{"seq":0,"time":"x"}\nnot json\n{"cut":');
    expect([...entriesNewestFirst(join(dir, 'odd.log'), budget(1000))].map((e) => e.seq)).toEqual([0]);
  });

  it('[ADMIN-OVERVIEW-3] a missing file or a folder is unreadable, with the reason', () => {
    expect(() => [...entriesNewestFirst(join(dir, 'none.log'), budget(10))]).toThrow(AuditLogUnreadable);
    expect(() => [...entriesNewestFirst(join(dir, 'none.log'), budget(10))]).toThrow('there is no such file');
    expect(() => [...entriesNewestFirst(dir, budget(10))]).toThrow('it is a folder, not a file');
  });

  it('[ADMIN-AUDIT-5] verifier reports read as OK, broken at a line, or not matching the anchors', async () => {
    const file = join(dir, 'mcp-audit.log');
    const ok = statusOf(await verifyAuditPath(file, { keys: TEST_AUDIT_KEYS }), NOW);
    expect(ok).toMatchObject({ state: 'ok', checkedAt: NOW });
    expect(ok.summary).toMatch(/^OK: 4\d lines, every MAC valid\.$/);
    const anchors = statusOf([{ set: { files: [file] }, lines: 3, notes: [], problems: [{ kind: 'truncated', message: 'the log ends at line 3 of x.log, but the database anchored seq 9' }] }], NOW);
    expect(anchors).toMatchObject({ state: 'anchors', summary: 'The log does not match the anchors in the database.' });
    const broken = statusOf([{ set: { files: [file] }, lines: 3, notes: [], problems: [
      { kind: 'edited', message: 'line 7 of mcp-audit.log (seq 6) does not match its MAC' },
      { kind: 'truncated', message: 'the log ends at line 9' },
    ] }], NOW);
    expect(broken).toMatchObject({ state: 'broken', summary: 'Broken at line 7 of mcp-audit.log: 2 problems.' });
    const foreign = statusOf([{ set: { files: [file] }, lines: 3, notes: [], problems: [{ kind: 'unverifiable', message: 'mcp-audit.log was written under key-encryption key k2, which is not configured' }] }], NOW);
    expect(foreign).toMatchObject({ state: 'unverifiable', summary: 'Cannot be checked here: the log was written under a key-encryption key this server does not have.' });
  });
});
