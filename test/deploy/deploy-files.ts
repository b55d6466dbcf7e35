// Readers for the deployment files (docker-compose.yml, env templates, Dockerfile) so tests can
// check them against the apps' real configuration. Docker itself cannot run on our machines.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '../..');
export const read = (rel: string) => readFileSync(resolve(ROOT, rel), 'utf8');

export interface Healthcheck { test: string[] }
export interface Service {
  build?: string | { context: string; dockerfile?: string };
  image?: string;
  command?: string[];
  profiles?: string[];
  env_file?: string | string[];
  environment?: Record<string, string | number | boolean | null>;
  ports?: string[];
  volumes?: string[];
  tmpfs?: string[];
  healthcheck?: Healthcheck;
  deploy?: { replicas?: number };
  depends_on?: Record<string, { condition: string }>;
  read_only?: boolean;
  init?: boolean;
  stop_grace_period?: string;
}
export interface ComposeFile {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
}

/** docker-compose.yml parsed with YAML merge keys (`<<: *app`) applied, as Compose does. */
export function loadCompose(): ComposeFile {
  return parse(read('docker-compose.yml'), { merge: true }) as ComposeFile;
}

/** KEY=VALUE lines of an env file (comments and blank lines skipped), in file order. */
export function parseEnvFile(text: string): [string, string][] {
  return text.split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const i = l.indexOf('=');
      if (i < 1) throw new Error(`not a KEY=VALUE line: ${l}`);
      return [l.slice(0, i), l.slice(i + 1)] as [string, string];
    });
}

const REF = /\$\{([A-Z0-9_]+)(?:(:?[-?])([^}]*))?\}/g;

/** The variable names a compose value refers to with ${NAME…}. */
export const references = (value: string) => [...value.matchAll(REF)].map((m) => m[1]!);

/** Compose variable interpolation (${V}, ${V:-default}, ${V-default}, ${V:?error}) over `vars`. */
export function interpolate(value: string, vars: Record<string, string>): string {
  return value.replace(REF, (_all, name: string, op: string | undefined, arg: string | undefined) => {
    const v = vars[name];
    if (op === ':-') return v ? v : arg ?? '';
    if (op === '-') return v ?? arg ?? '';
    if (op === ':?' && !v) throw new Error(`required variable ${name} is missing: ${arg}`);
    return v ?? '';
  });
}

/** A service's environment as the container would see it: env_file values, then `environment:`. */
export function containerEnv(service: Service, envFile: Record<string, string>): Record<string, string> {
  const own = Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, interpolate(String(v ?? ''), envFile)]));
  return { ...envFile, ...own };
}

/** Which app a service runs, from its command (docker/entrypoint.sh maps the name to a main.ts). */
export function appOf(service: Service): 'auth' | 'mcp' | undefined {
  const cmd = service.command?.[0];
  return cmd === 'auth-server' ? 'auth' : cmd === 'mcp-server' ? 'mcp' : undefined;
}

/** `HOST:CONTAINER` port mappings as numbers. */
export const containerPorts = (s: Service) => (s.ports ?? []).map((p) => Number(p.split(':').at(-1)));

export interface DockerStage { from: string; name?: string; lines: string[] }

/** Dockerfile stages with their instructions (continuation lines joined, comments dropped). */
export function dockerStages(text: string): { args: Record<string, string>; stages: DockerStage[] } {
  const lines = text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: DockerStage[] = [];
  for (const line of lines) {
    const from = /^FROM\s+(\S+)(?:\s+AS\s+(\S+))?/i.exec(line);
    if (from) { stages.push({ from: from[1]!, ...(from[2] ? { name: from[2] } : {}), lines: [] }); continue; }
    const arg = /^ARG\s+([A-Z_]+)=(\S+)/i.exec(line);
    if (arg && stages.length === 0) args[arg[1]!] = arg[2]!;
    stages.at(-1)?.lines.push(line);
  }
  return { args, stages };
}

/**
 * A .dockerignore as Docker applies it: patterns relative to the context root, `*` and `?` within
 * one path segment, `**` across any number of them, a pattern that matches a folder excludes what
 * is under it, `!` re-includes, and the last matching line wins.
 */
export function dockerIgnore(text: string): (path: string) => boolean {
  const rules = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')).map((l) => {
    const include = l.startsWith('!');
    const glob = (include ? l.slice(1) : l).replace(/^\/+|\/+$/g, '');
    const source = glob.split(/(\*\*\/?|\*|\?)/).map((part) => {
      if (part === '**/') return '(?:.*/)?';
      if (part === '**') return '.*';
      if (part === '*') return '[^/]*';
      if (part === '?') return '[^/]';
      return part.replace(/[.+^${}()|[\]\\]/g, '\\$&');
    }).join('');
    return { include, re: new RegExp(`^${source}$`) };
  });
  return (path) => {
    const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
    let ignored = false;
    for (const { include, re } of rules) if (prefixes.some((p) => re.test(p))) ignored = !include;
    return ignored;
  };
}
