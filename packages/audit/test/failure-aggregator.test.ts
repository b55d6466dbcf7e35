import { describe, expect, it } from 'vitest';
import { FailureAggregator, type AuditEvent } from '../src/index.ts';

describe('failure aggregation', () => {
  it('[HARD-AUDIT-AGGREGATE-FAILURES] writes the first failures of an interval in full, then one summary per address', () => {
    const written: AuditEvent[] = [];
    let now = Date.parse('2030-01-01T00:00:00Z');
    const agg = new FailureAggregator({ sink: { write: (e) => written.push(e) }, intervalMs: 60_000, inFull: 2, now: () => now });
    for (let i = 0; i < 1000; i++) agg.write('192.0.2.1', 'authorize.error', { event: 'authorize.error', n: i });
    agg.write('192.0.2.1', 'client.auth_failed', { event: 'client.auth_failed' });
    agg.write('192.0.2.2', 'authorize.error', { event: 'authorize.error', n: -1 });
    expect(written.map((e) => e.n ?? e.event)).toEqual([0, 1, 'client.auth_failed', -1]);
    now += 60_000;
    agg.flush();
    expect(written.slice(4)).toEqual([{
      event: 'audit.failures_summarized', address: '192.0.2.1', count: 998, kinds: ['authorize.error=998'],
      from: '2030-01-01T00:00:00.000Z', to: '2030-01-01T00:01:00.000Z', decision: 'deny', reason: expect.any(String),
    }]);
    // A new interval: the first ones are written in full again.
    agg.write('192.0.2.1', 'authorize.error', { event: 'authorize.error', n: 1000 });
    expect(written.at(-1)).toMatchObject({ n: 1000 });
    agg.close();
  });

  it('[HARD-AUDIT-AGGREGATE-FAILURES] bounds memory: addresses beyond the cap share one bucket, full lines are capped per interval', () => {
    const written: AuditEvent[] = [];
    const agg = new FailureAggregator({ sink: { write: (e) => written.push(e) }, intervalMs: 60_000, inFull: 1, maxAddresses: 10, maxFullLines: 5 });
    for (let i = 0; i < 10_000; i++) agg.write(`198.51.100.${i % 250}`, 'mcp.AUTH_FAILED', { event: 'mcp.decision', i });
    expect(written).toHaveLength(5);
    agg.close();
    const summaries = written.slice(5);
    // Ten tracked addresses (five of them had a full line) and one bucket for the rest.
    expect(summaries).toHaveLength(11);
    expect(summaries.at(-1)).toMatchObject({ address: '(other addresses)', count: 9600 });
    expect(summaries.reduce((n, e) => n + Number(e.count), 0) + 5).toBe(10_000);
  });
});
