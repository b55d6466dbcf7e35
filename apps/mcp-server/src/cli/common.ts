import { parseArgs, type ParseArgsConfig } from 'node:util';
import { escapeControl } from '@stack/audit';
import { ConfigError, EXIT_FAILED, EXIT_OK, EXIT_USAGE, UsageError, type CliIo } from '@stack/config';

type Handler = (args: string[], io: CliIo) => Promise<void>;
type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
type OptionValues<T extends OptionSpecs> = { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean };

/** Runs one subcommand and maps the outcome to an exit code: 0 ok, 1 failed, 2 bad usage. */
export async function runGroup(group: string, usage: string, handlers: Record<string, Handler>, args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'help' || sub === '--help' || sub === '-h' || rest.includes('--help')) {
    io.stdout.write(usage);
    return EXIT_OK;
  }
  const hint = `Run 'npm run admin -- ${group} --help' for usage.\n`;
  const handler = sub !== undefined && Object.hasOwn(handlers, sub) ? handlers[sub] : undefined;
  if (!handler) {
    io.stderr.write(sub === undefined ? `error: missing ${group} command\n${usage}` : `error: unknown command '${group} ${escapeControl(sub.slice(0, 40))}'\n${hint}`);
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
    io.stderr.write(`error: ${err instanceof ConfigError ? err.message : (err as Error).message.split('\n')[0]}\n`);
    return EXIT_FAILED;
  }
}

/** Strict `--name value` parsing; messages name the option but never echo a stray value. */
export function parseOptions<T extends OptionSpecs>(args: string[], options: T, positionals = false): { values: OptionValues<T>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, strict: true, allowPositionals: positionals });
    return { values: r.values as OptionValues<T>, positionals: r.positionals };
  } catch (err) {
    const e = err as Error & { code?: string };
    if (e.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') throw new UsageError('unexpected argument: every value must follow its --option');
    throw new UsageError(escapeControl(e.message.split('. ')[0]!.replace(/\.$/, '')).replace(/^./, (c) => c.toLowerCase()));
  }
}

export function required(value: string | boolean | undefined, name: string): string {
  if (typeof value !== 'string' || value.trim() === '') throw new UsageError(`missing required option --${name}`);
  return value;
}

/** ISO 8601 UTC to the second, or '-' when unset. */
export function when(ms: number | null | undefined): string {
  return ms == null ? '-' : new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** Safe to print in a terminal: control characters escaped, length capped. */
export function printable(s: string, max = 60): string {
  const t = escapeControl(s);
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}
