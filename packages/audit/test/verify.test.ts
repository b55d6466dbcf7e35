import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AuditLog, deriveAuditKeys, memoryAnchorStore, verifyAuditPath, type AuditProblemKind } from '../src/index.ts';
import { keys, readLines, tmpLog, writeLines, writtenLog } from './helpers.ts';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

async function kinds(file: string, anchors: ReturnType<typeof memoryAnchorStore>): Promise<AuditProblemKind[]> {
  const reports = await verifyAuditPath(file, { keys, anchors });
  return reports.flatMap((r) => r.problems.map((p) => p.kind));
}

/** Recomputes every `prev` from line `from` on, as someone without the key would after an edit. */
function rehash(lines: string[], from: number): string[] {
  const out = [...lines];
  for (let i = Math.max(1, from); i < out.length; i++) out[i] = out[i]!.replace(/"prev":"[0-9a-f]{64}"/, `"prev":"${sha(out[i - 1]!)}"`);
  return out;
}

describe('audit verify: what it reports', () => {
  it('[HARD-AUDIT-KEYED-CHAIN] an untouched log is intact: every line has seq, prev and an HMAC, and the chain is anchored', async () => {
    const { file, anchors } = await writtenLog(5);
    const lines = readLines(file);
    expect(lines).toHaveLength(6);
    lines.forEach((l, i) => expect(JSON.parse(l)).toMatchObject({ seq: i, prev: expect.stringMatching(/^[0-9a-f]{64}$/), mac: expect.stringMatching(/^[0-9a-f]{64}$/) }));
    expect(JSON.parse(lines[0]!)).toMatchObject({ event: 'audit.chain_started', kid: 'kek-one', app: 'test', log: file });
    const [report] = await verifyAuditPath(file, { keys, anchors });
    expect(report!.problems).toEqual([]);
    expect(report).toMatchObject({ lines: 6, firstSeq: 0, lastSeq: 5, anchor: { seq: 5 } });
    // Another key (a forger's, or the wrong KEK) validates nothing.
    const other = deriveAuditKeys([{ id: 'kek-one', key: Buffer.alloc(32, 9) }]);
    expect((await verifyAuditPath(file, { keys: other, anchors }))[0]!.problems.map((p) => p.kind)).toEqual(['replaced']);
  });

  it('[HARD-AUDIT-VERIFY-EDITED] reports an edited line', async () => {
    const { file, anchors } = await writtenLog(5);
    const lines = readLines(file);
    lines[3] = lines[3]!.replace('"n":2', '"n":7');
    writeLines(file, lines);
    const [report] = await verifyAuditPath(file, { keys, anchors });
    expect(report!.problems).toEqual([{ kind: 'edited', message: 'line 4 of audit.log (seq 3) does not match its MAC' }]);
  });

  it('[HARD-AUDIT-VERIFY-DELETED] reports a deleted line', async () => {
    const { file, anchors } = await writtenLog(5);
    writeLines(file, readLines(file).filter((_, i) => i !== 2));
    const [report] = await verifyAuditPath(file, { keys, anchors });
    expect(report!.problems).toEqual([{ kind: 'deleted', message: 'seq 2 is missing before line 3 of audit.log (seq 3)' }]);
  });

  it('[HARD-AUDIT-VERIFY-REORDERED] reports reordered lines', async () => {
    const { file, anchors } = await writtenLog(5);
    const lines = readLines(file);
    [lines[2], lines[3]] = [lines[3]!, lines[2]!];
    writeLines(file, lines);
    expect(await kinds(file, anchors)).toEqual(['reordered']);
    // A line copied to a second place is reported too.
    writeLines(file, [...readLines(file), readLines(file)[1]!]);
    expect(await kinds(file, anchors)).toEqual(['reordered', 'reordered']);
  });

  it('[HARD-AUDIT-VERIFY-TRUNCATED] reports lines cut off the end, which the log alone cannot show', async () => {
    const { file, anchors } = await writtenLog(5);
    writeLines(file, readLines(file).slice(0, 4));
    const [report] = await verifyAuditPath(file, { keys, anchors });
    expect(report!.problems).toHaveLength(1);
    expect(report!.problems[0]!.kind).toBe('truncated');
    expect(report!.problems[0]!.message).toMatch(/^the log ends at line 4 of audit\.log \(seq 3\), but the database anchored seq 5 at .*: lines were cut off the end$/);
    // Without anchors the same file looks intact: the database is what makes truncation visible.
    expect((await verifyAuditPath(file, { keys }))[0]!.problems).toEqual([]);
  });

  it('[HARD-AUDIT-VERIFY-RECHAINED] reports a line rewritten with every later hash recomputed', async () => {
    const { file, anchors } = await writtenLog(6);
    const lines = readLines(file);
    lines[2] = lines[2]!.replace('"n":1', '"n":9');
    writeLines(file, rehash(lines, 3));
    const [report] = await verifyAuditPath(file, { keys, anchors });
    expect(report!.problems.map((p) => p.kind)).toEqual(['re-chained']);
    expect(report!.problems[0]!.message).toBe('from line 3 of audit.log (seq 2) on, 5 lines fail their MACs although their unkeyed hashes agree: rewritten and re-hashed without the key');
    // Lines removed and the rest renumbered and re-hashed: the same.
    const renumbered = readLines(file).filter((_, i) => i !== 2).map((l, i) => l.replace(/^\{"seq":\d+/, `{"seq":${i}`));
    writeLines(file, rehash(renumbered, 2));
    expect(await kinds(file, anchors)).toEqual(['re-chained', 'truncated']);
  });

  it('[HARD-AUDIT-VERIFY-REPLACED] reports a forged file, and a genuine file of a chain the database does not know', async () => {
    const { file, anchors } = await writtenLog(3);
    // Forged with the same structure, but under another key.
    const forged = tmpLog();
    const fake = await AuditLog.open({ file: forged, keys: deriveAuditKeys([{ id: 'kek-one', key: Buffer.alloc(32, 5) }]), app: 'test' });
    for (let i = 0; i < 3; i++) fake.write({ event: 'test', n: i });
    await fake.close();
    renameSync(forged, file);
    expect(await kinds(file, anchors)).toEqual(['replaced', 'replaced']);
    // Written with the right key (e.g. an older copy from elsewhere) but never anchored in this database.
    const { file: other } = await writtenLog(3);
    expect(await kinds(other, anchors)).toEqual(['replaced']);
  });

  it('walks the files of a rotated chain in order and reports a deleted file', async () => {
    const { file, anchors } = await writtenLog(40, { maxFileBytes: 1024 });
    const reports = await verifyAuditPath(dirname(file), { keys, anchors });
    expect(reports).toHaveLength(1);
    expect(reports[0]!.set.files.length).toBeGreaterThan(3);
    expect(reports[0]!.problems).toEqual([]);
    expect(reports[0]!.lastSeq).toBe(reports[0]!.lines - 1);
    // Verifying the current file checks its whole chain.
    expect((await verifyAuditPath(file, { keys, anchors }))[0]!.set.files).toEqual(reports[0]!.set.files);
    writeFileSync(reports[0]!.set.files[1]!, '');
    const kindsAfter = (await verifyAuditPath(file, { keys, anchors }))[0]!.problems.map((p) => p.kind);
    expect(kindsAfter).toEqual(['deleted']);
  });

  it('says clearly when a log is of the old unkeyed format', async () => {
    const file = join(dirname(tmpLog()), 'old.log');
    const a = JSON.stringify({ time: 't', event: 'x', prev: '0'.repeat(64) });
    const b = JSON.stringify({ time: 't', event: 'y', prev: sha(a) });
    writeLines(file, [a, b]);
    const [report] = await verifyAuditPath(file, { keys, anchors: memoryAnchorStore() });
    expect(report!.problems).toEqual([{ kind: 'old-format', message: expect.stringMatching(/^old\.log is an old-format audit log \(unkeyed SHA-256 chain, before keyed chains\): its hash chain is consistent over 2 lines, but without a key or anchors this format cannot show truncation, re-chaining or replacement$/) }]);
  });
});
