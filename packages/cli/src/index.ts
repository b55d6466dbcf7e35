import { basename } from 'node:path';
import { escapeControl } from '@stack/audit';
import { ConfigError } from '@stack/config';
/**
 * The streams and environment an admin CLI command runs with. `scripts/admin.ts` passes the
 * process's own; tests pass their own to run a command in-process.
 */
export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: { write(s: string): unknown };
  stderr: { write(s: string): unknown };
  env: Record<string, string | undefined>;
}

/** A command group's entry point: returns the exit code (0 success, 1 failed operation, 2 bad usage). */
export type CliRun = (args: string[], io: CliIo) => Promise<number>;

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

/** Thrown for bad usage (exit code 2). The message must not echo argument values that could be secrets. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Thrown when an operation fails (exit code 1); the message is one line naming the problem. */
export class CliFailure extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CliFailure';
  }
}

/**
 * A --role value: one of the roles the stack file declares (`declared.source` names the file). The
 * message lists them, so the operator sees what to type; it does not echo the value given.
 */
export function declaredRole(value: string, declared: { source: string; roles: readonly string[] }): string {
  if (!declared.roles.includes(value)) throw new UsageError(`--role must be one of the roles ${basename(declared.source)} declares: ${declared.roles.join(', ')}`);
  return value;
}

/**
 * Reads a secret from standard input (at most `maxBytes`), removing one trailing newline
 * (LF or CRLF) so `echo pw | …` and `printf '%s' pw | …` give the same secret.
 */
export async function readSecretFromStdin(stdin: NodeJS.ReadableStream, maxBytes = 8192): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > maxBytes) throw new CliFailure(`standard input is longer than ${maxBytes} bytes`);
    chunks.push(buf);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  return text.endsWith('\r\n') ? text.slice(0, -2) : text.endsWith('\n') ? text.slice(0, -1) : text;
}

/** Formats rows as left-aligned plain-text columns under a header row. */
export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

/** One subcommand's implementation: throws UsageError for bad usage, anything else for a failed operation. */
export type CliHandler = (args: string[], io: CliIo) => Promise<void>;

/**
 * Runs one subcommand of a command group and maps the outcome to an exit code:
 * 0 success, 1 failed operation (one line on stderr), 2 bad usage (with a pointer to the help).
 */
export async function runGroup(group: string, usage: string, handlers: Record<string, CliHandler>, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h' || rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(usage);
    return EXIT_OK;
  }
  const hint = `Run 'npm run admin -- ${group} --help' for usage.\n`;
  if (!sub) {
    io.stderr.write(`error: missing ${group} command\n${usage}`);
    return EXIT_USAGE;
  }
  const handler = Object.hasOwn(handlers, sub) ? handlers[sub] : undefined;
  if (!handler) {
    io.stderr.write(`error: unknown command '${group} ${escapeControl(sub.slice(0, 40))}'\n${hint}`);
    return EXIT_USAGE;
  }
  try {
    await handler(rest, io);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n${hint}`);
      return EXIT_USAGE;
    }
    // ConfigError and StackFileError (a `problems` list) name every problem, one per line, each
    // without a value; everything else is one line.
    const e = err as Error & { problems?: unknown };
    const listsProblems = err instanceof ConfigError || (e.name === 'StackFileError' && Array.isArray(e.problems));
    const message = listsProblems ? e.message : e.message.split('\n')[0];
    io.stderr.write(`error: ${message}\n`);
    return EXIT_FAILED;
  }
}
