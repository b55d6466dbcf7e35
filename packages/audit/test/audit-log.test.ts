import { describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditChainError, AuditLog, deriveAuditKeys, escapeControl, memoryAnchorStore, verifyAuditPath } from '../src/index.ts';
import { KEK, KEK2, keys, readLines, tmpLog, writeLines, writtenLog } from './helpers.ts';

const problems = async (path: string, anchors: ReturnType<typeof memoryAnchorStore> | undefined, k = keys) => (await verifyAuditPath(path, { keys: k, anchors })).flatMap((r) => r.problems);

describe('keyed audit log: writing', () => {
  it('[HARD-AUDIT-KEYED-CHAIN] derives its key from the KEK and stores nothing of it: file 0600 in a 0700 folder', async () => {
    const { file } = await writtenLog(2);
    const text = readFileSync(file, 'utf8');
    for (const k of [KEK.key, keys[0]!.key]) {
      expect(text).not.toContain(k.toString('hex'));
      expect(text).not.toContain(k.toString('base64'));
    }
    expect(readdirSync(dirname(file))).toEqual(['audit.log']);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
  });

  it('keeps the chain intact when two writers (server and CLI) append to the same file', async () => {
    const file = tmpLog();
    const anchors = memoryAnchorStore();
    const server = await AuditLog.open({ file, keys, anchors });
    server.write({ event: 'a' });
    const cli = await AuditLog.open({ file, keys, anchors });
    cli.write({ event: 'b' });
    await cli.close();
    server.write({ event: 'c' });
    await server.close();
    expect(readLines(file).map((l) => JSON.parse(l).seq)).toEqual([0, 1, 2, 3]);
    expect(await problems(file, anchors)).toEqual([]);
  });

  it('keeps the chain intact when another process appends between its writes', async () => {
    const file = tmpLog();
    const server = await AuditLog.open({ file, keys });
    const src = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    const cli = `import { AuditLog, deriveAuditKeys } from ${JSON.stringify(src)};
      const log = await AuditLog.open({ file: process.argv[1], keys: deriveAuditKeys([{ id: 'kek-one', key: Buffer.alloc(32, 1) }]) });
      log.write({ event: 'cli' }); await log.close();`;
    for (let i = 0; i < 3; i++) {
      server.write({ event: 'server', n: i });
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', cli, file]);
    }
    server.write({ event: 'server', n: 3 });
    await server.close();
    expect(readLines(file)).toHaveLength(8);
    expect(await problems(file, undefined)).toEqual([]);
  });

  it('continues the chain in a new file when the old one was renamed under it', async () => {
    const file = tmpLog();
    const log = await AuditLog.open({ file, keys });
    log.write({ event: 'a' });
    renameSync(file, `${file}.1`);
    log.write({ event: 'b' });
    await log.close();
    const moved = readLines(`${file}.1`);
    const next = readLines(file);
    expect(next.map((l) => JSON.parse(l).event)).toEqual(['audit.segment_started', 'b']);
    expect(JSON.parse(next[0]!).seq).toBe(JSON.parse(moved.at(-1)!).seq + 1);
    expect(await problems(file, undefined)).toEqual([]);
  });

  it('[HARD-AUDIT-ROTATION] rotates by size; the chain continues across files, each header naming the file before', async () => {
    const { file, anchors } = await writtenLog(30, { maxFileBytes: 1024 });
    const files = readdirSync(dirname(file)).sort();
    expect(files.length).toBeGreaterThan(3);
    for (const f of files) expect(statSync(join(dirname(file), f)).size).toBeLessThanOrEqual(1024);
    const all = files.filter((f) => f !== 'audit.log').concat('audit.log').map((f) => readLines(join(dirname(file), f)));
    const seqs = all.flat().map((l) => JSON.parse(l).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i));
    for (let i = 1; i < all.length; i++) {
      expect(JSON.parse(all[i]![0]!)).toMatchObject({ event: 'audit.segment_started', prev_file: files.filter((f) => f !== 'audit.log')[i - 1] });
    }
    expect(files.filter((f) => f !== 'audit.log').every((f) => /^audit\.\d{12}\.log$/.test(f))).toBe(true);
    expect(await problems(file, anchors)).toEqual([]);
    // A reopened log continues where the chain stands.
    const again = await AuditLog.open({ file, keys, anchors, maxFileBytes: 1024 });
    again.write({ event: 'later' });
    await again.close();
    expect(await problems(file, anchors)).toEqual([]);
  });

  it('[HARD-AUDIT-ANCHOR] anchors every N lines, on close, and prints anchors for a collector', async () => {
    const printed: string[] = [];
    const { file, anchors } = await writtenLog(7, { anchorEveryLines: 3, anchorStream: { write: (s: string) => printed.push(s) } });
    const anchored = printed.map((s) => JSON.parse(s).audit_anchor);
    expect(anchored.map((a) => a.seq)).toEqual([0, 3, 6, 7]);
    const last = readLines(file).at(-1)!;
    expect(anchored.at(-1)).toMatchObject({ log: file, chain: JSON.parse(readLines(file)[0]!).chain, seq: 7, mac: JSON.parse(last).mac });
    expect(await anchors.latest(anchored[0].chain)).toMatchObject({ seq: 7, mac: JSON.parse(last).mac, log: file });
  });

  it('[HARD-AUDIT-KEK-ROTATION] after a KEK rotation continues in a new file whose header is vouched for by both keys', async () => {
    const { file, anchors } = await writtenLog(2);
    const rotated = deriveAuditKeys([KEK2, KEK]);
    const log = await AuditLog.open({ file, keys: rotated, anchors });
    log.write({ event: 'after' });
    await log.close();
    const head = JSON.parse(readLines(file)[0]!);
    expect(head).toMatchObject({ event: 'audit.segment_started', kid: 'kek-two', previous_kid: 'kek-one', previous_key_mac: expect.any(String) });
    expect(await problems(file, anchors, rotated)).toEqual([]);
    // Without the old key the older file cannot be checked, and verify says so.
    const onlyNew = await problems(file, anchors, deriveAuditKeys([KEK2]));
    expect(onlyNew.map((p) => p.kind)).toEqual(['unverifiable']);
    expect(onlyNew[0]!.message).toMatch(/written under key-encryption key kek-one, which is not configured/);
  });
});

describe('keyed audit log: refusing to resume from a log that does not match', () => {
  it('[HARD-AUDIT-RESUME-REFUSED] refuses a log cut short, a deleted log, a replaced log and an edited last line', async () => {
    const cut = await writtenLog(5);
    writeLines(cut.file, readLines(cut.file).slice(0, 3));
    await expect(AuditLog.open({ file: cut.file, keys, anchors: cut.anchors })).rejects.toThrow(/the file ends at seq 2, but the database anchored seq 5 of chain .* \(truncated\)\. Refusing to start/);

    const gone = await writtenLog(2);
    unlinkSync(gone.file);
    await expect(AuditLog.open({ file: gone.file, keys, anchors: gone.anchors })).rejects.toThrow(/the file is missing, but the database anchored seq 2 .*\(deleted or replaced\)/);
    expect(existsSync(gone.file)).toBe(false);

    const swapped = await writtenLog(2);
    const other = await writtenLog(4);
    renameSync(other.file, swapped.file);
    await expect(AuditLog.open({ file: swapped.file, keys, anchors: swapped.anchors })).rejects.toThrow(/the file holds chain .*, but the database's latest anchor for this log is .*\(replaced\)/);

    const edited = await writtenLog(2);
    const lines = readLines(edited.file);
    lines[2] = lines[2]!.replace('"n":1', '"n":5');
    writeLines(edited.file, lines);
    await expect(AuditLog.open({ file: edited.file, keys, anchors: edited.anchors })).rejects.toThrow(AuditChainError);
    // Even without anchors (no database), the log's own MACs are checked.
    await expect(AuditLog.open({ file: edited.file, keys })).rejects.toThrow(/its last line \(seq 2\) does not match its MAC/);
    expect((await problems(edited.file, edited.anchors)).map((p) => p.kind)).toEqual(['edited']);
  });

  it('[HARD-AUDIT-RESUME-REFUSED] with onBrokenChain record, keeps the old file and starts a chain whose first line records the break', async () => {
    const cut = await writtenLog(5);
    writeLines(cut.file, readLines(cut.file).slice(0, 3));
    const log = await AuditLog.open({ file: cut.file, keys, anchors: cut.anchors, onBrokenChain: 'record' });
    log.write({ event: 'next' });
    await log.close();
    const head = JSON.parse(readLines(cut.file)[0]!);
    expect(head).toMatchObject({ event: 'audit.chain_broken', seq: 0, reason: expect.stringMatching(/truncated/), broken_file: expect.stringMatching(/^audit\.broken-\d{8}T\d{6}Z\.log$/) });
    expect(readLines(join(dirname(cut.file), head.broken_file))).toHaveLength(3);
    const [report] = await verifyAuditPath(cut.file, { keys, anchors: cut.anchors });
    expect(report!.problems).toEqual([]);
    expect(report!.notes.join('\n')).toMatch(/after a recorded break: .*truncated/);
  });

  it('keeps an old-format log aside under its own name and starts a keyed chain that names it', async () => {
    const file = tmpLog();
    writeFileSync(file, `${JSON.stringify({ time: 't', event: 'x', prev: '0'.repeat(64) })}\n`);
    const log = await AuditLog.open({ file, keys });
    await log.close();
    const head = JSON.parse(readLines(file)[0]!);
    expect(head).toMatchObject({ event: 'audit.chain_started', previous_file: expect.stringMatching(/^audit\.unkeyed-.*\.log$/) });
    expect(existsSync(join(dirname(file), head.previous_file))).toBe(true);
  });
});

describe('audit values', () => {
  it('redacts secret-looking fields and escapes control characters (no log injection)', async () => {
    const file = tmpLog();
    const log = await AuditLog.open({ file, keys });
    log.write({ event: 'x', password: 'hunter2', access_token: 'abc', reason: 'bad\n{"event":"forged"}\u001b[31m', seq: 99, mac: 'f'.repeat(64) });
    await log.close();
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('"abc"');
    expect(text.trimEnd().split('\n')).toHaveLength(2);
    expect(text).toContain('\\\\u000a');
    expect(text).not.toContain('\u001b');
    // Fields named like the chain's own are renamed, never taken for them.
    expect(JSON.parse(readLines(file)[1]!)).toMatchObject({ seq: 1, field_seq: 99, field_mac: 'f'.repeat(64) });
  });

  it('[HARD-AUDIT-BIDI-ESCAPE] escapes bidirectional-text controls like the other controls', async () => {
    const bidi = ['\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];
    for (const c of bidi) expect(escapeControl(`a${c}b`)).toBe(`a\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}b`);
    const file = tmpLog();
    const log = await AuditLog.open({ file, keys });
    log.write({ event: 'client.registered', client_name: 'Evil\u202Egnp.exe', tags: ['x\u2066y'] });
    await log.close();
    const text = readFileSync(file, 'utf8');
    for (const c of bidi) expect(text).not.toContain(c);
    expect(JSON.parse(readLines(file)[1]!)).toMatchObject({ client_name: 'Evil\\u202egnp.exe', tags: ['x\\u2066y'] });
  });

  it('[HARD-AUDIT-VALUE-CAPS] caps each value at 200 characters and a line at about 1 KB', async () => {
    const file = tmpLog();
    const log = await AuditLog.open({ file, keys });
    const long = 'x'.repeat(5000);
    log.write({ event: 'authorize.error', client: long, reason: long, redirect_uri: long, state: long, scope: long, args: Array.from({ length: 100 }, () => long) });
    log.write({ event: 'escapes', reason: '\u0001'.repeat(500) });
    await log.close();
    const [, big, escaped] = readLines(file);
    expect(Buffer.byteLength(big!)).toBeLessThanOrEqual(1100);
    const fields = JSON.parse(big!);
    for (const k of ['client', 'reason', 'redirect_uri', 'state', 'scope']) expect(fields[k].length).toBeLessThanOrEqual(200);
    expect(JSON.parse(escaped!).reason).toMatch(/^(\\u0001)+…$/);
    expect(JSON.parse(escaped!).reason.length).toBeLessThanOrEqual(200);
  });

  it('anchors on a timer while lines are written', async () => {
    vi.useFakeTimers();
    try {
      const file = tmpLog();
      const anchors = memoryAnchorStore();
      const log = await AuditLog.open({ file, keys, anchors, anchorIntervalMs: 1000 });
      log.write({ event: 'a' });
      expect((await anchors.latestForLog(file))!.seq).toBe(0);
      await vi.advanceTimersByTimeAsync(1100);
      expect((await anchors.latestForLog(file))!.seq).toBe(1);
      await log.close();
    } finally {
      vi.useRealTimers();
    }
  });
});
