import { problem, type Path } from './errors.ts';
import { REF, REF_LIKE } from './schema.ts';
import type { StackConfig } from './stack-config.ts';

/**
 * `${secret:NAME}` (a value in the encrypted secret store) and `${env:NAME}` (a variable of the
 * gateway's environment) keep credentials out of the stack file. They are allowed in upstream
 * header values, stdio env values and identity providers' client_secret only: anywhere else (a URL, a command, an argument) the value
 * would end up in logs, process listings or error messages.
 */

export interface RefLocation {
  /** The server's name. */
  server: string;
  /** Where in the server: `upstream.headers.Authorization`, `upstream.env.API_TOKEN`. */
  where: string;
  kind: 'secret' | 'env';
  name: string;
}

/** Deeper than any valid stack file: a deeper document is refused before it is walked further. */
const MAX_DEPTH = 16;

const allowedAt = (path: Path) =>
  (path.length === 5 && path[0] === 'servers' && path[2] === 'upstream' && (path[3] === 'headers' || path[3] === 'env'))
  || (path.length === 3 && path[0] === 'identity_providers' && path[2] === 'client_secret');

/** Problems for references outside header and env values (in keys or values), and for nesting deeper than any valid file. */
export function misplacedRefs(doc: unknown): string[] {
  const problems: string[] = [];
  const walk = (v: unknown, path: Path): void => {
    if (path.length > MAX_DEPTH) {
      problems.push(problem(path.slice(0, MAX_DEPTH), 'is nested too deeply'));
      return;
    }
    if (typeof v === 'string') {
      if (REF_LIKE.test(v) && !allowedAt(path)) problems.push(problem(path, 'may not hold ${secret:…} or ${env:…}: references are allowed only in upstream header values, stdio env values and identity provider client secrets'));
    } else if (Array.isArray(v)) {
      v.forEach((x, i) => walk(x, [...path, i]));
    } else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (REF_LIKE.test(k)) problems.push(problem([...path, k], 'a key may not hold ${secret:…} or ${env:…}'));
        walk(x, [...path, k]);
      }
    }
  };
  walk(doc, []);
  return problems;
}

export function refsIn(value: string): { kind: 'secret' | 'env'; name: string }[] {
  return [...value.matchAll(REF)].map((m) => ({ kind: m[1] as 'secret' | 'env', name: m[2]! }));
}

/** Every reference in a validated stack file, with where it is. */
export function findRefs(config: StackConfig): RefLocation[] {
  const out: RefLocation[] = [];
  for (const s of config.servers) {
    const u = s.upstream;
    const [field, map] = u.kind === 'http' ? ['headers', u.headers] : u.kind === 'stdio' ? ['env', u.env] : ['', {}];
    for (const [key, value] of Object.entries(map)) {
      for (const ref of refsIn(value)) out.push({ server: s.name, where: `upstream.${field}.${key}`, ...ref });
    }
  }
  return out;
}

/** The `${secret:NAME}` references: the secrets that must be in the store before the servers start. */
export function findSecretRefs(config: StackConfig): RefLocation[] {
  return findRefs(config).filter((r) => r.kind === 'secret');
}

export interface RefLookup {
  secret(name: string): string | undefined;
  env(name: string): string | undefined;
}

/** Thrown when a reference has no value; names the references, never a value. */
export class MissingRefError extends Error {
  readonly missing: readonly string[];
  constructor(missing: string[]) {
    super(`not set: ${missing.join(', ')}`);
    this.name = 'MissingRefError';
    this.missing = missing;
  }
}

/**
 * `value` with each reference replaced by what `lookup` gives. One pass: a substituted value is
 * not searched for references again. Throws MissingRefError naming every reference without a value.
 */
export function resolveRefs(value: string, lookup: RefLookup): string {
  const missing: string[] = [];
  const out = value.replace(REF, (ref, kind: string, name: string) => {
    const v = kind === 'secret' ? lookup.secret(name) : lookup.env(name);
    if (v === undefined) {
      if (!missing.includes(ref)) missing.push(ref);
      return '';
    }
    return v;
  });
  if (missing.length) throw new MissingRefError(missing);
  return out;
}

/** A RefLookup whose secrets may come from a database (the MCP server's store, SQLite or PostgreSQL). */
export interface AsyncRefLookup {
  secret(name: string): Promise<string | undefined> | string | undefined;
  env(name: string): string | undefined;
}

/** resolveRefs with each secret the value names looked up first (once per name). */
export async function resolveRefsAsync(value: string, lookup: AsyncRefLookup): Promise<string> {
  const secrets = new Map<string, string | undefined>();
  for (const ref of refsIn(value)) if (ref.kind === 'secret' && !secrets.has(ref.name)) secrets.set(ref.name, await lookup.secret(ref.name));
  return resolveRefs(value, { secret: (name) => secrets.get(name), env: (name) => lookup.env(name) });
}
