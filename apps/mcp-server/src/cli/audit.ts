import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { deriveAuditKeys, findAuditSets, verifyAuditSet, type AuditSetReport, type VerifyOptions } from '@stack/audit';
import { CliFailure, UsageError, type CliIo } from '@stack/cli';
import { loadMcpConfig } from '../config.ts';
import { mcpKeks } from '../pipeline/audit-log.ts';
import { openMcpStore } from '../store/index.ts';
import { parseOptions, printable, runGroup } from './common.ts';

const USAGE = `Usage: npm run admin -- audit <command>

Commands:
  verify PATH    check an audit log: a file (with the rest of its chain: files rotated next to it)
                 or a folder (every log in it). Each problem is one line, named by kind:
                   edited       a line does not match its MAC
                   deleted      seq numbers are missing (lines or whole files removed)
                   reordered    a line comes after a later one, or twice
                   truncated    the log ends before the line the database anchored
                   re-chained   lines rewritten and re-hashed without the key
                   replaced     a forged or swapped file (no MAC matches from the first line,
                                or a chain the database does not know)
                 Exit code 1 if there is any, or OK with the line count.

Needs the key-encryption key (KEY_ENCRYPTION_KEY; KEY_ENCRYPTION_KEY_PREVIOUS for files written
before a rotation) and the app's database, which holds the anchors: the authorization server's
(DATA_DIR/auth.db, AUTH_DATABASE_PATH or DATABASE_URL) for auth-audit.log, the MCP server's
(MCP_DATABASE_PATH, default DATA_DIR/mcp.db, or DATABASE_URL and MCP_DATABASE_SCHEMA) for mcp-audit.log.
`;

type Verifier = VerifyOptions & { close(): Promise<void> | void };

/** Keys and anchors of the app that wrote a log (named in its header). */
async function verifierFor(app: string | undefined, io: CliIo): Promise<Verifier> {
  if (app === 'auth-server') {
    // The authorization server's own part (its config, KEKs and store, SQLite or PostgreSQL).
    const { authVerifyOptions } = await import('@stack/auth-server/cli/audit-verify');
    return authVerifyOptions(io);
  }
  if (app !== 'mcp-server') throw new CliFailure(`a log names the app '${printable(app ?? '', 40)}', which has no database here`);
  const config = loadMcpConfig(io.env);
  if (!config.postgres && (config.databasePath === ':memory:' || !existsSync(config.databasePath))) {
    throw new CliFailure(`the MCP server's database ${config.databasePath} does not exist: its anchors are needed to verify the log (set DATA_DIR or MCP_DATABASE_PATH)`);
  }
  const store = await openMcpStore(config);
  return { keys: deriveAuditKeys(mcpKeks(config)), anchors: store.auditAnchors, close: () => store.close() };
}

function summary(r: AuditSetReport): string {
  const files = r.set.files.length;
  const anchor = r.anchor ? `, anchored at seq ${r.anchor.seq} (${new Date(r.anchor.at).toISOString()})` : '';
  return `OK: ${r.lines} lines, chain ${r.set.chain} (${r.set.app}) in ${files} file${files === 1 ? '' : 's'} ending ${printable(basename(r.set.files.at(-1)!), 80)}, `
    + `seq ${r.firstSeq}–${r.lastSeq}, every MAC valid${anchor}`;
}

async function verify(args: string[], io: CliIo): Promise<void> {
  const { positionals } = parseOptions(args, {}, true);
  if (positionals.length !== 1) throw new UsageError('audit verify takes exactly one PATH (a log file or a folder)');
  const path = positionals[0]!;
  if (!existsSync(path)) throw new CliFailure(`no such file or folder: ${printable(path, 200)}`);
  const sets = findAuditSets(path);
  if (sets.length === 0) throw new CliFailure(`no audit log in ${printable(path, 200)}`);
  const verifiers = new Map<string | undefined, Verifier>();
  let problems = 0;
  try {
    for (const set of sets) {
      let opts: VerifyOptions = { keys: [] };
      if (set.chain) {
        if (!verifiers.has(set.app)) verifiers.set(set.app, await verifierFor(set.app, io));
        opts = verifiers.get(set.app)!;
      }
      const r = await verifyAuditSet(set, opts);
      for (const n of r.notes) io.stdout.write(`note: ${printable(n, 400)}\n`);
      for (const p of r.problems) io.stderr.write(`${p.kind}: ${printable(p.message, 400)}\n`);
      problems += r.problems.length;
      if (r.problems.length === 0) io.stdout.write(`${summary(r)}\n`);
    }
  } finally {
    for (const v of verifiers.values()) await v.close();
  }
  if (problems > 0) throw new CliFailure(`${printable(path, 200)} is NOT intact: ${problems} problem${problems === 1 ? '' : 's'}, listed above`);
}

/** `audit …` admin commands. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('audit', USAGE, { verify }, args, io);
}
