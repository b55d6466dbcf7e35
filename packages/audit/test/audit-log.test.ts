import { describe, expect, it, vi } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AuditLog, verifyAuditLog } from '../src/index.ts';

const tmp = () => join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.log');

describe('hash-chained audit log', () => {
  it('verifies an untouched log and reports the first changed, removed or inserted line', () => {
    const file = tmp();
    const log = new AuditLog({ file });
    for (let i = 0; i < 5; i++) log.write({ event: 'test', n: i });
    expect(verifyAuditLog(file)).toEqual({ ok: true, lines: 5 });
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');

    const changed = [...lines];
    changed[2] = changed[2]!.replace('"n":2', '"n":7');
    writeFileSync(file, `${changed.join('\n')}\n`);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 4 });

    writeFileSync(file, `${lines.filter((_, i) => i !== 1).join('\n')}\n`);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 2 });

    writeFileSync(file, `${[lines[0], lines[1], lines[1], ...lines.slice(2)].join('\n')}\n`);
    expect(verifyAuditLog(file)).toMatchObject({ ok: false, line: 3 });
  });

  it('keeps the chain intact when two writers (server and CLI) append to the same file', () => {
    const file = tmp();
    const server = new AuditLog({ file });
    server.write({ event: 'a' });
    const cli = new AuditLog({ file });
    cli.write({ event: 'b' });
    server.write({ event: 'c' });
    expect(verifyAuditLog(file)).toEqual({ ok: true, lines: 3 });
  });

  it('keeps the chain intact when another process appends between its writes', () => {
    const file = tmp();
    const server = new AuditLog({ file });
    const src = fileURLToPath(new URL('../src/index.ts', import.meta.url));
    const cli = `import { AuditLog } from ${JSON.stringify(src)}; new AuditLog({ file: process.argv[1] }).write({ event: 'cli' });`;
    for (let i = 0; i < 3; i++) {
      server.write({ event: 'server', n: i });
      execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', cli, file]);
    }
    server.write({ event: 'server', n: 3 });
    server.close();
    expect(verifyAuditLog(file)).toEqual({ ok: true, lines: 7 });
  });

  it('follows the path to a new file after the old one was renamed (log rotation)', () => {
    const file = tmp();
    const log = new AuditLog({ file });
    log.write({ event: 'a' });
    renameSync(file, `${file}.1`);
    const now = vi.spyOn(Date, 'now').mockReturnValue(Date.now() + 5_000);
    try {
      log.write({ event: 'b' });
    } finally {
      now.mockRestore();
    }
    log.close();
    expect(verifyAuditLog(`${file}.1`)).toEqual({ ok: true, lines: 1 });
    // A new file starts a new chain, as when the path did not exist.
    expect(verifyAuditLog(file)).toEqual({ ok: true, lines: 1 });
    expect(readFileSync(file, 'utf8')).toContain('"event":"b"');
  });

  it('redacts secret-looking fields and escapes control characters (no log injection)', () => {
    const file = tmp();
    new AuditLog({ file }).write({ event: 'x', password: 'hunter2', access_token: 'abc', reason: 'bad\n{"event":"forged"}\u001b[31m' });
    const text = readFileSync(file, 'utf8');
    expect(text).not.toContain('hunter2');
    expect(text).not.toContain('"abc"');
    expect(text.trimEnd().split('\n')).toHaveLength(1);
    expect(text).toContain('\\\\u000a');
    expect(text).not.toContain('\u001b');
  });
});
