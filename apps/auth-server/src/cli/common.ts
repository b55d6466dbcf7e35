import { parseArgs, type ParseArgsConfig } from 'node:util';
import { escapeControl, type AuditEvent } from '@stack/audit';
import { CliFailure, declaredRole, formatTable, UsageError, type CliIo } from '@stack/cli';

export { runGroup } from '@stack/cli';
import type { Role } from '@stack/oauth';
import { loadStackFile, type StackConfig } from '@stack/stack-config';
import { loadAuthConfig, type AuthConfig } from '../config.ts';
import { openStore, type AuthStore } from '../store/index.ts';
import { createArgon2Slots, type Argon2Slots } from '../services/argon2-slots.ts';
import { openAuthAuditLog } from '../services/audit-log.ts';
import { resolveKeks } from '../services/kek.ts';

/** What an auth-server admin command works with; opened per command and closed after it. */
export interface CliContext {
  config: AuthConfig;
  store: AuthStore;
  /** The command's own argon2 slots (password hashing), like the server's ctx.argon2. */
  argon2: Argon2Slots;
  io: CliIo;
  now: () => number;
  /** Writes an `admin.*` audit event (decision allow, actor cli) to the configured audit log. */
  audit: (event: `admin.${string}`, fields: AuditEvent) => void;
}

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
type OptionValues<T extends OptionSpecs> = { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean };

/**
 * Parses `--name value` options strictly. Error messages name the option but never echo a stray
 * value, which could be a password typed in the wrong place.
 */
export function parseOptions<T extends OptionSpecs>(args: string[], options: T): OptionValues<T> {
  if (args.some((a) => a === '--password' || a.startsWith('--password='))) {
    throw new UsageError('passwords are not accepted as arguments (they end up in shell history and process lists); pipe it with --password-stdin');
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError('unexpected argument: every value must follow its --option');
    // First sentence only: Node may append a hint that quotes the whole token.
    const first = escapeControl(e.message.split('. ')[0]!.replace(/\.$/, ''));
    throw new UsageError(first.replace(/^./, (c) => c.toLowerCase()));
  }
}

/** Returns a required string option or throws a usage error naming it. */
export function required(value: string | boolean | undefined, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`missing required option --${name}`);
  return value;
}

/**
 * --role: one of the roles the stack file (STACK_FILE) declares, as the server will check it.
 * Checked before a password is read or the database opened; the stack file comes back with it
 * (set-role compares the two roles' scopes).
 */
export function roleOption(value: string | boolean | undefined, env: CliIo['env']): { role: Role; stack: StackConfig } {
  const role = required(value, 'role');
  const config = loadAuthConfig(env);
  const stack = loadStackFile(config.stackFile, { env: config.env });
  return { role: declaredRole(role, stack), stack };
}

/** Opens the same database and audit log the server uses (DATABASE_URL, else DATA_DIR / AUTH_DATABASE_PATH; AUDIT_LOG). */
export async function withContext<T>(io: CliIo, fn: (ctx: CliContext) => Promise<T> | T): Promise<T> {
  const config = loadAuthConfig(io.env);
  if (!config.postgres && config.databasePath === ':memory:') {
    throw new CliFailure('AUTH_DATABASE_PATH is :memory:, which only the server process can see; point it at a file');
  }
  // A database outage fails the command with the 503 description; the CLI reports it on one line.
  const store = await openStore(config, { unavailable: () => {}, recovered: () => {} });
  // The same chain as the server's, checked against the same anchors. Audit lines may go to stdout
  // for the server; here stderr, so --json output stays parseable.
  const sink = await openAuthAuditLog(config, resolveKeks(config), store.auditAnchors, {
    stream: io.stderr,
    onError: (err) => io.stderr.write(`warning: audit anchor not recorded: ${(err as Error).message.split('\n')[0]}\n`),
  }).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  const operator = io.env.SUDO_USER ?? io.env.USER ?? io.env.LOGNAME;
  const audit = (event: string, fields: AuditEvent) => sink.write({ event, actor: 'cli', operator, decision: 'allow', ...fields });
  try {
    return await fn({ config, store, argon2: createArgon2Slots(), io, now: Date.now, audit });
  } finally {
    await sink.close();
    await store.close();
  }
}

/** A timestamp for operators: ISO 8601 in UTC to the second, or '-' when unset. */
export function when(ms: number | null | undefined): string {
  return ms == null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Makes a value safe to print in a terminal (client names come from untrusted registrations). */
export function printable(s: string, max = 60): string {
  const t = escapeControl(s);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** What a `list [--json]` command shows: every row as JSON with its status, or a table, or `empty`. */
export interface ListView<T> {
  load: (store: AuthStore) => Promise<T[]>;
  status: (row: T) => string;
  empty: string;
  headers: string[];
  /** A table row; strings from untrusted input go through printable(). */
  cells: (row: T) => string[];
}

export async function listCommand<T extends object>(args: string[], io: CliIo, view: ListView<T>): Promise<void> {
  const o = parseOptions(args, { json: { type: 'boolean' } });
  await withContext(io, async (ctx) => {
    const rows = await view.load(ctx.store);
    if (o.json) return writeJson(io, rows.map((r) => ({ ...r, status: view.status(r) })));
    if (rows.length === 0) return void io.stdout.write(`${view.empty}\n`);
    io.stdout.write(formatTable(view.headers, rows.map(view.cells)));
  });
}
