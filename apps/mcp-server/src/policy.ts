import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { ROLES, type Role } from '@stack/oauth';
import { expandScopes, loadStackFile, StackFileError, type Rule, type StackConfig, type StackEnv } from '@stack/stack-config';

const scope = z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,64}$/, 'must be an RFC 6749 scope token');
const toolName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1-64 letters, digits, _ . or -');

const toolPolicy = z.strictObject({
  roles: z.array(z.enum(ROLES)).min(1),
  // MCP 2026-07-28: offline_access is never a resource scope (clients ask the AS for it themselves).
  scopes: z.array(scope.refine((s) => s !== 'offline_access', 'offline_access is not a tool scope')).min(1).max(16),
  rate_limit_per_minute: z.number().int().positive().max(1_000_000).optional(),
});

const policySchema = z.strictObject({
  scope_implies: z.record(scope, z.array(scope).max(16)).default({}),
  default_tool_rate_limit_per_minute: z.number().int().positive().max(1_000_000).optional(),
  tools: z.record(toolName, toolPolicy).refine((t) => Object.keys(t).length > 0, 'must list at least one tool'),
});

export interface ToolRule {
  /** The older policy file's rules name the built-in roles; the stack file's name any role it declares. */
  roles: readonly Role[];
  scopes: readonly string[];
  ratePerMinute: number | undefined;
}

/** A validated, frozen policy. */
export interface Policy {
  source: string;
  tools: Readonly<Record<string, ToolRule>>;
  /** Every scope some tool needs, sorted: PRM scopes_supported and the 401 challenge. */
  scopesSupported: readonly string[];
  /** The scopes a token's granted scopes satisfy, following scope_implies transitively. */
  expand(granted: readonly string[]): Set<string>;
}

/** Thrown for an unreadable or invalid policy; lists every problem. */
export class PolicyError extends Error {
  constructor(source: string, problems: string[]) {
    super(`invalid policy ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'PolicyError';
  }
}

/** Validates a parsed policy document (YAML or JSON shape). */
export function parsePolicy(doc: unknown, source = '(inline)'): Policy {
  const r = policySchema.safeParse(doc);
  if (!r.success) throw new PolicyError(source, r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
  const p = r.data;
  const tools: Record<string, ToolRule> = {};
  for (const [name, t] of Object.entries(p.tools)) {
    tools[name] = Object.freeze({
      roles: Object.freeze([...t.roles]),
      scopes: Object.freeze([...new Set(t.scopes)].sort()),
      ratePerMinute: t.rate_limit_per_minute ?? p.default_tool_rate_limit_per_minute,
    });
  }
  return buildPolicy(tools, p.scope_implies, source);
}

/** A policy from rules already validated (the stack file's, or a parsed policy file's). */
export function buildPolicy(tools: Record<string, ToolRule>, implies: Readonly<Record<string, readonly string[]>>, source: string): Policy {
  return Object.freeze({
    source,
    tools: Object.freeze(tools),
    scopesSupported: Object.freeze([...new Set(Object.values(tools).flatMap((t) => t.scopes))].sort(scopeOrder)),
    expand: (granted: readonly string[]) => expandScopes(granted, implies),
  });
}

// db:read, db:write, db:admin read better in privilege order than alphabetically.
const ORDER = ['db:read', 'db:write', 'db:admin'];
function scopeOrder(a: string, b: string): number {
  const ia = ORDER.indexOf(a), ib = ORDER.indexOf(b);
  if (ia >= 0 && ib >= 0) return ia - ib;
  if (ia >= 0 || ib >= 0) return ia >= 0 ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Reads and validates a policy file (.yaml/.yml or .json). */
export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new PolicyError(path, [`cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`]);
  }
  let doc: unknown;
  try {
    doc = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text, { maxAliasCount: 50 });
  } catch (err) {
    throw new PolicyError(path, [`not valid ${extname(path).toLowerCase() === '.json' ? 'JSON' : 'YAML'}: ${(err as Error).message.split('\n')[0]}`]);
  }
  return parsePolicy(doc, path);
}

/** Holds the current policy; reload() swaps it atomically and keeps the old one if the new file is invalid. */
export interface PolicyHolder {
  current(): Policy;
  reload(): Policy;
  /** Makes `next` current (a policy validated by the caller, with the rest of a reload). */
  replace(next: Policy): void;
}

export function createPolicyHolder(initial: Policy, load: () => Policy): PolicyHolder {
  let policy = initial;
  return {
    current: () => policy,
    reload() {
      policy = load();
      return policy;
    },
    replace(next) {
      policy = next;
    },
  };
}

/** Reads the stack file; its problems are reported as a policy's (every one, naming the file). */
export function readStackFile(stackFile: string, env: StackEnv): StackConfig {
  try {
    return loadStackFile(stackFile, { env });
  } catch (err) {
    if (err instanceof StackFileError) throw new PolicyError(stackFile, err.problems);
    throw err;
  }
}

/**
 * The rules the stack file gives the built-in database server at `mcpPath`: its named tools, and
 * its `default` rule for each of `builtinTools` it does not name (none when the default is deny).
 */
export function stackPolicy(stack: StackConfig, mcpPath: string, builtinTools: readonly string[]): Policy {
  const stackFile = stack.source;
  const server = stack.serverByPath(mcpPath);
  if (!server || server.upstream.kind !== 'builtin') {
    throw new PolicyError(stackFile, [`servers: no server with path ${mcpPath} and upstream { builtin: database } (this endpoint serves the database tools)`]);
  }
  // The file is already validated (roles it declares, custom ones among them): its rules become the
  // policy's as they are, not through the older format's schema, which knows only the built-in roles.
  const asRule = (r: Rule): ToolRule => Object.freeze({ roles: Object.freeze([...r.roles]), scopes: Object.freeze([...r.scopes].sort()), ratePerMinute: r.ratePerMinute });
  const tools: Record<string, ToolRule> = {};
  for (const [name, rule] of Object.entries(server.tools.rules)) tools[name] = asRule(rule);
  const fallback = server.tools.default;
  if (fallback !== 'deny') for (const name of builtinTools) if (!Object.hasOwn(tools, name)) tools[name] = asRule(fallback);
  const source = `${stackFile} (server ${server.name})`;
  if (Object.keys(tools).length === 0) throw new PolicyError(source, ['tools: must list at least one tool']);
  return buildPolicy(tools, server.scopeImplies, source);
}
