import { basename } from 'node:path';
import type { Rule, RuleSet, ServerConfig, Upstream } from '@stack/stack-config';
import type { AppContext } from '../context.ts';

/** One row of a rule table: what the file names (a tool, resource URI or prompt), or the default. */
export interface RuleRow {
  key: string;
  roles: string;
  scopes: string;
  rateLimit: string;
}

/** A protected server as the admin console shows it: what it is and who may call what, never a credential. */
export interface AdminServer {
  name: string;
  path: string;
  resource: string;
  upstream: string;
  /** Header names the gateway sends upstream (their values may be secrets: never shown). */
  headerNames: string[];
  auth: string;
  dpop: string;
  tools: RuleRow[];
  resources: RuleRow[] | undefined;
  prompts: RuleRow[] | undefined;
}

/**
 * What an upstream is, without what may carry a credential: a URL's host only (its path or query may
 * hold a token), a command's name only (never its arguments or environment), never header values.
 */
export function upstreamSummary(u: Upstream): string {
  if (u.kind === 'builtin') return `builtin: ${u.name}`;
  if (u.kind === 'http') return `url: ${URL.canParse(u.url) ? new URL(u.url).host : 'invalid URL'}`;
  const isolation = u.isolation ? ', one process per caller identity' : '';
  return `command: ${basename(u.command.split(/\s+/)[0] ?? '')}${isolation}`;
}

function row(key: string, r: Rule | 'deny'): RuleRow {
  if (r === 'deny') return { key, roles: 'denied', scopes: '-', rateLimit: '-' };
  return { key, roles: r.roles.join(', '), scopes: r.scopes.join(' '), rateLimit: r.ratePerMinute === undefined ? 'none' : `${r.ratePerMinute} / minute` };
}

function rows(set: RuleSet, defaultLabel: string): RuleRow[] {
  return [...Object.entries(set.rules).map(([k, r]) => row(k, r)), row(defaultLabel, set.default)];
}

/** Resources and prompts are shown only when the file says something about them (any rule, or a default that is not deny). */
function optionalRows(set: RuleSet, defaultLabel: string): RuleRow[] | undefined {
  return Object.keys(set.rules).length === 0 && set.default === 'deny' ? undefined : rows(set, defaultLabel);
}

/** The stack file's servers, in the file's order. */
export function adminServers(ctx: AppContext): AdminServer[] {
  const stack = ctx.stack.current();
  const urls = stack.resourceUrls(ctx.config.mcpPublicOrigin);
  return stack.servers.map((srv: ServerConfig, i) => ({
    name: srv.name,
    path: srv.path,
    resource: urls[i]!,
    upstream: upstreamSummary(srv.upstream),
    headerNames: srv.upstream.kind === 'http' ? Object.keys(srv.upstream.headers) : [],
    // Unset: the MCP app's MCP_AUTH_MODE decides, which this server cannot see.
    auth: srv.auth?.join(', ') ?? 'as MCP_AUTH_MODE of the MCP server',
    dpop: srv.dpop,
    tools: rows(srv.tools, 'any other tool'),
    resources: optionalRows(srv.resources, 'any other resource'),
    prompts: optionalRows(srv.prompts, 'any other prompt'),
  }));
}
