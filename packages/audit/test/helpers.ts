import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AuditLog, deriveAuditKeys, memoryAnchorStore, type AuditLogOptions } from '../src/index.ts';

export const KEK = { id: 'kek-one', key: Buffer.alloc(32, 1) };
export const KEK2 = { id: 'kek-two', key: Buffer.alloc(32, 2) };
export const keys = deriveAuditKeys([KEK]);

/** A fresh audit file path in its own temporary folder. */
export const tmpLog = () => join(mkdtempSync(join(tmpdir(), 'audit-')), 'audit.log');

export const readLines = (file: string) => readFileSync(file, 'utf8').trimEnd().split('\n');
export const writeLines = (file: string, lines: string[]) => writeFileSync(file, `${lines.join('\n')}\n`);

/** A log of `n` events (plus its header) with anchors in memory, closed (so the last line is anchored). */
export async function writtenLog(n: number, extra: Partial<AuditLogOptions> = {}) {
  const file = tmpLog();
  const anchors = memoryAnchorStore();
  const log = await AuditLog.open({ file, keys, anchors, app: 'test', ...extra });
  for (let i = 0; i < n; i++) log.write({ event: 'test', n: i });
  await log.close();
  return { file, anchors };
}
