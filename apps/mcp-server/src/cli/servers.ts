import { join, resolve } from 'node:path';
import { CliFailure, formatTable, runGroup, UsageError, type CliIo } from '@stack/cli';
import { findSecretRefs, loadStackFile, MissingRefError, resolveRefs, StackFileError, type Rule, type ServerConfig, type StackEnv } from '@stack/stack-config';
import { secretsSettings } from '../secrets/keks.ts';
import { createSecretStore } from '../secrets/store.ts';
import { openMcpStore } from '../store/index.ts';
import { DEMO_TOOL_NAMES } from '../tools/names.ts';
import { createHttpUpstream } from '../upstream/http-upstream.ts';
import { createStdioUpstream } from '../upstream/stdio-upstream.ts';
import type { Upstream } from '../upstream/types.ts';
import { parseOptions } from './common.ts';
import { AUTH_MODES, type AuthMode } from '../config.ts';
import { serverAccepts } from '../pipeline/authenticate.ts';

const USAGE = `Usage: npm run admin -- servers list [--json] [--no-connect]

Lists each MCP server in the stack file: its path, how callers authenticate (and, where it takes
access tokens, whether they must be DPoP-bound: dpop required or allowed), its upstream and
whether it answers, the tools it offers and the rule that applies to each (roles, scopes, rate
limit per minute, or denied), and its resource and prompt rules.
Upstreams are asked for their tools (a stdio server is started for it and stopped again), each
within 10 s; --no-connect lists only what the file says.

Settings: STACK_FILE (default stack.yaml at the repository root), NODE_ENV, MCP_AUTH_MODE (what a
server whose entry names no auth accepts, and mtls or none for every server), and for the
\${secret:NAME} references of upstream headers and env: MCP_DATABASE_PATH (default DATA_DIR/mcp.db),
DATA_DIR, KEY_ENCRYPTION_KEY.
`;

const REPO_ROOT = resolve(import.meta.dirname, '../../../..');
const CONNECT_TIMEOUT_MS = 10_000;

interface ToolRow {
  name: string;
  /** Where the name comes from: the upstream's list, the file only (the upstream did not list it), or both. */
  listed: boolean;
  rule: string;
}

interface ServerReport {
  name: string;
  path: string;
  /** What it accepts: oauth and/or apikey, or mtls or none (MCP_AUTH_MODE, every server). */
  auth: string[];
  /** Where that comes from: the server's entry or MCP_AUTH_MODE. */
  authFrom: 'stack file' | 'MCP_AUTH_MODE';
  /** The entry's `dpop` (RFC 9449) where the server takes access tokens; null where it takes none, so the setting does nothing. */
  dpop: ServerConfig['dpop'] | null;
  upstream: string;
  health: string;
  tools: ToolRow[];
  /** The file's resource rules by URI and prompt rules by name, each with `(default)` last. */
  resources: { uri: string; rule: string }[];
  prompts: { name: string; rule: string }[];
}

/** Named rules, then the default for what the file does not name (only when something is allowed). */
function itemRows(set: ServerConfig['resources']): [string, string][] {
  const rows: [string, string][] = Object.entries(set.rules).map(([k, r]) => [k, describeRule(r)]);
  if (rows.length || set.default !== 'deny') rows.push(['(default)', describeRule(set.default)]);
  return rows;
}

const describeRule = (r: Rule | 'deny' | undefined): string =>
  r === undefined || r === 'deny' ? 'denied' : `${r.roles.join(',')} | ${r.scopes.join(' ')}${r.ratePerMinute ? ` | ${r.ratePerMinute}/min` : ''}`;

/** What the upstream is, without anything that may be a secret (header values, env, arguments). */
function describeUpstream(s: ServerConfig): string {
  const u = s.upstream;
  if (u.kind === 'builtin') return `builtin ${u.name}`;
  if (u.kind === 'http') {
    const url = new URL(u.url);
    return `http ${url.origin}${url.pathname}`;
  }
  return `stdio ${u.command}${u.isolation ? ' (one child per identity)' : ''}`;
}

function connect(s: ServerConfig, resolveValue: (v: string) => string): Upstream | undefined {
  const u = s.upstream;
  const limits = { name: s.name, timeoutMs: CONNECT_TIMEOUT_MS, maxResponseBytes: s.maxResponseBytes };
  const resolveAll = (m: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, resolveValue(v)]));
  if (u.kind === 'http') return createHttpUpstream({ ...limits, url: u.url, headers: resolveAll(u.headers) });
  if (u.kind === 'stdio') return createStdioUpstream({ ...limits, command: u.command, args: [...u.args], env: resolveAll(u.env) });
  return undefined;
}

async function report(s: ServerConfig, mode: AuthMode, connectUpstreams: boolean, resolveValue: (v: string) => string): Promise<ServerReport> {
  const accepts = serverAccepts(mode, s.auth);
  const auth = typeof accepts === 'string' ? [accepts] : [...accepts];
  const base = {
    name: s.name, path: s.path, auth, authFrom: s.auth && typeof accepts !== 'string' ? 'stack file' as const : 'MCP_AUTH_MODE' as const,
    dpop: typeof accepts !== 'string' && accepts.includes('oauth') ? s.dpop : null, upstream: describeUpstream(s),
    resources: itemRows(s.resources).map(([uri, rule]) => ({ uri, rule })),
    prompts: itemRows(s.prompts).map(([name, rule]) => ({ name, rule })),
  };
  const named = Object.keys(s.tools.rules);
  const rows = (listed: readonly string[]): ToolRow[] => {
    const names = [...new Set([...listed, ...named])].sort();
    return names.map((name) => ({ name, listed: listed.includes(name), rule: describeRule(s.tools.rules[name] ?? s.tools.default) }));
  };
  if (s.upstream.kind === 'builtin') return { ...base, health: 'built in', tools: rows(DEMO_TOOL_NAMES) };
  if (!connectUpstreams) return { ...base, health: 'not checked', tools: rows([]) };
  let upstream: Upstream | undefined;
  try {
    upstream = connect(s, resolveValue);
  } catch (err) {
    // A missing secret is named (never its value); a bad option is the connector's own message.
    return { ...base, health: `not started: ${err instanceof MissingRefError ? err.message : (err as Error).message}`, tools: rows([]) };
  }
  try {
    const listed = (await upstream!.listTools()).map((t) => t.name);
    const h = upstream!.health();
    return { ...base, health: h.state === 'up' ? 'up' : `${h.state}${h.lastError ? `: ${h.lastError}` : ''}`, tools: rows(listed) };
  } finally {
    await upstream!.close();
  }
}

async function list(args: string[], io: CliIo): Promise<void> {
  const { values } = parseOptions(args, { json: { type: 'boolean' }, 'no-connect': { type: 'boolean' } });
  const env = (io.env.NODE_ENV ?? 'development') as StackEnv;
  if (!['production', 'development', 'test'].includes(env)) throw new UsageError('NODE_ENV must be production, development or test');
  const mode = (io.env.MCP_AUTH_MODE ?? 'oauth') as AuthMode;
  if (!AUTH_MODES.includes(mode)) throw new UsageError(`MCP_AUTH_MODE must be one of ${AUTH_MODES.join(', ')}`);
  let stack;
  try {
    stack = loadStackFile(resolve(io.env.STACK_FILE ?? join(REPO_ROOT, 'stack.yaml')), { env });
  } catch (err) {
    if (!(err instanceof StackFileError)) throw err;
    // Every problem, one per line, as the servers print them at start.
    io.stderr.write(`${err.message}\n`);
    throw new CliFailure(`the stack file is invalid (${err.problems.length} problem${err.problems.length === 1 ? '' : 's'})`);
  }
  const connectUpstreams = values['no-connect'] !== true;
  // The secret store is opened only when some upstream value refers to it, and read once here; a
  // secret that cannot be opened fails only the server that refers to it.
  const secrets = new Map<string, string | Error>();
  const names = connectUpstreams ? [...new Set(findSecretRefs(stack).map((r) => r.name))] : [];
  if (names.length > 0) {
    const settings = secretsSettings(io.env);
    const db = await openMcpStore(settings);
    try {
      const store = createSecretStore(db.secrets, settings.keks());
      for (const name of names) {
        const value = await store.get(name).catch((err: unknown) => err as Error);
        if (value !== undefined) secrets.set(name, value);
      }
    } finally {
      await db.close();
    }
  }
  const secret = (name: string) => {
    const value = secrets.get(name);
    if (value instanceof Error) throw value;
    return value;
  };
  const resolveValue = (v: string) => resolveRefs(v, { secret, env: (n) => io.env[n] });
  const reports: ServerReport[] = [];
  for (const s of stack.servers) reports.push(await report(s, mode, connectUpstreams, resolveValue));
  if (values.json) return void io.stdout.write(`${JSON.stringify(reports, null, 2)}\n`);
  io.stdout.write(`${stack.source}\n\n`);
  io.stdout.write(formatTable(['SERVER', 'PATH', 'UPSTREAM', 'HEALTH'], reports.map((r) => [r.name, r.path, r.upstream, r.health])));
  for (const r of reports) {
    io.stdout.write(`\n${r.name} (${r.path}), auth: ${r.auth.join(', ')}${r.authFrom === 'MCP_AUTH_MODE' ? ' (MCP_AUTH_MODE)' : ''}${r.dpop ? `; dpop: ${r.dpop}` : ''}\n`);
    if (r.tools.length === 0) io.stdout.write('  no tools known\n');
    else io.stdout.write(formatTable(['  TOOL', 'RULE (roles | scopes | rate)', 'LISTED'], r.tools.map((t) => [`  ${t.name}`, t.rule, t.listed ? 'yes' : 'no'])));
    if (r.resources.length) io.stdout.write(formatTable(['  RESOURCE', 'RULE (roles | scopes | rate)'], r.resources.map((x) => [`  ${x.uri}`, x.rule])));
    if (r.prompts.length) io.stdout.write(formatTable(['  PROMPT', 'RULE (roles | scopes | rate)'], r.prompts.map((x) => [`  ${x.name}`, x.rule])));
  }
}

/** `servers …` admin commands: exit 0 success, 1 failed operation, 2 bad usage. */
export function run(args: string[], io: CliIo): Promise<number> {
  return runGroup('servers', USAGE, { list }, args, io);
}
