import { existsSync } from 'node:fs';
import { verifyAuditLog } from '@stack/audit';
import { CliFailure, UsageError, type CliIo } from '@stack/config';
import { parseOptions, printable, runGroup } from './common.ts';

const USAGE = `Usage: npm run admin -- audit <command>

Commands:
  verify FILE    check the hash chain of an audit log; reports the first line that was
                 changed, removed or inserted (exit code 1), or OK with the line count
`;

async function verify(args: string[], io: CliIo): Promise<void> {
  const { positionals } = parseOptions(args, {}, true);
  if (positionals.length !== 1) throw new UsageError('audit verify takes exactly one FILE');
  const file = positionals[0]!;
  if (!existsSync(file)) throw new CliFailure(`no such file: ${printable(file, 200)}`);
  const r = verifyAuditLog(file);
  if (!r.ok) throw new CliFailure(`audit log ${printable(file, 200)} is NOT intact: line ${r.line}: ${r.reason}`);
  io.stdout.write(`OK: ${r.lines} lines, hash chain intact (${printable(file, 200)})\n`);
}

/** `audit …` admin commands. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('audit', USAGE, { verify }, args, io);
}
