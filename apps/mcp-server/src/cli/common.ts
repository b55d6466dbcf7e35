import { parseArgs, type ParseArgsConfig } from 'node:util';
import { escapeControl } from '@stack/audit';
import { UsageError } from '@stack/cli';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;
type OptionValues<T extends OptionSpecs> = { [K in keyof T]?: T[K]['type'] extends 'string' ? string : boolean };

export { runGroup } from '@stack/cli';

/** Strict `--name value` parsing; messages name the option but never echo a stray value. */
export function parseOptions<T extends OptionSpecs>(args: string[], options: T, positionals = false): { values: OptionValues<T>; positionals: string[] } {
  try {
    const r = parseArgs({ args, options, strict: true, allowPositionals: positionals });
    return { values: r.values, positionals: r.positionals };
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
