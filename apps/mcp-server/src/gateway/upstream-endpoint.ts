import { z } from 'zod';
import type { CallToolResult } from '@modelcontextprotocol/server';
import { resolveRefs, type Rule, type ServerConfig } from '@stack/stack-config';
import type { Endpoint } from '../endpoint.ts';
import { createMcpHttpServer, createServerFactory, ToolFailure } from '../mcp-server-factory.ts';
import type { Authenticator } from '../pipeline/authenticate.ts';
import type { Auditor } from '../pipeline/audit.ts';
import type { Identity } from '@stack/mcp-auth';
import { authorizeRule } from '../pipeline/authorize.ts';
import { visibleTools, type GateContext, type ItemKind, type PreparedTool } from '../pipeline/gate.ts';
import type { RateLimits } from '../pipeline/rate-limit.ts';
import { buildPolicy, type Policy, type ToolRule } from '../policy.ts';
import { resourceMetadataUrl } from '../routes/metadata.ts';
import { createHttpUpstream } from '../upstream/http-upstream.ts';
import { createStdioUpstream } from '../upstream/stdio-upstream.ts';
import { INVALID_PARAMS, type ListItem, type Upstream } from '../upstream/types.ts';
import { tracedUpstream } from '../upstream/traced-upstream.ts';
import { traceHeaders, type Tracer } from '@stack/telemetry';

export interface GatewayDeps {
  /** The MCP app's public origin: a server's resource URL is this followed by its path. */
  origin: string;
  authenticatorFor: (audience: string, auth?: ServerConfig['auth'], dpop?: ServerConfig['dpop']) => Authenticator;
  audit: Auditor;
  limits: RateLimits;
  /** `${secret:NAME}` from the encrypted store, `${env:NAME}` from the environment. */
  lookup: { secret(name: string): string | undefined; env(name: string): string | undefined };
  version: string;
  listTtlMs: number;
  onerror: (err: Error) => void;
  /** With tracing on: upstream calls get spans and HTTP upstreams the traceparent. */
  tracer?: Tracer | undefined;
}

export interface GatewayEndpoint extends Endpoint {
  upstream: Upstream;
  /** The stack file's entry the endpoint runs with: its rules as last applied, the rest as at start. */
  server(): ServerConfig;
  /**
   * Takes the rules of `next`, the same server read again (SIGHUP): tools, resources, prompts,
   * default, scope_implies and rate limits. Its name, path, upstream and auth stay as they were
   * (the caller reports a change there as needing a restart).
   */
  applyRules(next: ServerConfig): void;
  close(): Promise<void>;
}

const asToolRule = (r: Rule): ToolRule => Object.freeze({ roles: r.roles, scopes: r.scopes, ratePerMinute: r.ratePerMinute });
const identityKey = (identity: { kind: string; subject: string }) => `${identity.kind}:${identity.subject}`;

function connect(server: ServerConfig, lookup: GatewayDeps['lookup'], tracer: Tracer | undefined): Upstream {
  const upstream = connectUntraced(server, lookup, tracer !== undefined);
  return tracer && server.upstream.kind !== 'builtin' ? tracedUpstream(upstream, tracer, server.name, server.upstream.kind) : upstream;
}

function connectUntraced(server: ServerConfig, lookup: GatewayDeps['lookup'], propagate: boolean): Upstream {
  const resolveAll = (m: Readonly<Record<string, string>>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, resolveRefs(v, lookup)]));
  const limits = { name: server.name, timeoutMs: server.timeoutSeconds * 1000, maxResponseBytes: server.maxResponseBytes };
  const u = server.upstream;
  if (u.kind === 'http') return createHttpUpstream({ ...limits, url: u.url, headers: resolveAll(u.headers), ...(propagate ? { traceHeaders } : {}) });
  if (u.kind === 'stdio') {
    return createStdioUpstream({
      ...limits, command: u.command, args: [...u.args], env: resolveAll(u.env),
      ...(u.isolation ? { isolation: { perIdentity: true as const, maxChildren: u.isolation.maxChildren, idleTimeoutMs: u.isolation.idleTimeoutSeconds * 1000 } } : {}),
    });
  }
  throw new TypeError(`server ${server.name}: a built-in server is not a gateway upstream`);
}

/**
 * A stack-file server whose tools live upstream (Streamable HTTP or a stdio child), served at its
 * path through the same pipeline as the built-in tools: its own audience and metadata, the
 * gate's rate limits, rules and audit, and the SDK for both protocol revisions. The upstream's
 * tools/list (cached by the connector) is the catalogue: a tool the file names gets its rule, any
 * other the server's `default` (deny unless set: neither listed nor callable). Arguments go
 * upstream as the caller sent them (the upstream validates its own input); the caller's
 * credential never does: the upstream sees only the headers the file configures.
 * Resources and prompts follow the same rules by URI and prompt name (`resources`, `prompts`, each
 * with its own `default`): listed to a caller only when it may read or get them, gated like a
 * tool call, then passed upstream.
 */
export function createGatewayEndpoint(initial: ServerConfig, deps: GatewayDeps): GatewayEndpoint {
  let server = initial;
  const resourceUrl = `${deps.origin}${server.path}`;
  const upstream = connect(server, deps.lookup, deps.tracer);
  const withItemScopes = (policy: Policy): Policy => {
    // Every scope the server's rules name (ServerConfig.scopesSupported: tools, resources, prompts
    // and their defaults), whether or not the upstream lists the tool yet: the metadata and
    // challenges do not depend on reaching the upstream (the metadata is public and must not start
    // a child process).
    const extra = server.scopesSupported.filter((sc) => !policy.scopesSupported.includes(sc));
    return extra.length ? Object.freeze({ ...policy, scopesSupported: Object.freeze([...policy.scopesSupported, ...extra]) }) : policy;
  };
  const empty = withItemScopes(buildPolicy({}, server.scopeImplies, server.name));
  let catalogue: { from: readonly ListItem[] | undefined; tools: ReadonlyMap<string, PreparedTool>; policy: Policy } = { from: undefined, tools: new Map(), policy: empty };

  const forward = (name: string) => async (args: Record<string, unknown>, ctx: { identity: { kind: string; subject: string } }): Promise<CallToolResult> => {
    const out = await upstream.request('tools/call', { name, arguments: args }, { identityKey: identityKey(ctx.identity) });
    // The upstream's own refusal or our connector's (timeout, size, dead process), in its words.
    if ('error' in out) throw new ToolFailure(`The ${server.name} server did not answer the call: ${out.error.message.slice(0, 200)}`);
    return out.result as CallToolResult;
  };

  function rebuild(items: readonly ListItem[]): void {
    const tools = new Map<string, PreparedTool>();
    const rules: Record<string, ToolRule> = {};
    for (const item of items) {
      const rule = server.tools.rules[item.name] ?? (server.tools.default === 'deny' ? undefined : server.tools.default);
      if (!rule) continue;
      rules[item.name] = asToolRule(rule);
      tools.set(item.name, {
        def: {
          name: item.name,
          title: typeof item.title === 'string' ? item.title : item.name,
          description: typeof item.description === 'string' ? item.description : '',
          inputSchema: {},
          handler: forward(item.name),
        },
        // Any object: the upstream checks its arguments against its own schema.
        input: z.looseObject({}),
        listing: item,
      });
    }
    catalogue = { from: items, tools, policy: withItemScopes(buildPolicy(rules, server.scopeImplies, `${server.name} (stack file)`)) };
  }

  const itemRule = (kind: ItemKind, key: string): ToolRule | undefined => {
    const rule = server.ruleFor(kind, key);
    return rule && asToolRule(rule);
  };
  const LIST = { resources: 'listResources', resourceTemplates: 'listResourceTemplates', prompts: 'listPrompts' } as const;
  /** The upstream's resources, templates or prompts that `identity` may use (nothing while it cannot be asked). */
  async function visibleItems(kind: keyof typeof LIST, identity: Identity): Promise<ListItem[]> {
    let entries: ListItem[];
    try {
      entries = await upstream[LIST[kind]]({ identityKey: identityKey(identity) });
    } catch {
      return [];
    }
    const policy = catalogue.policy;
    if (kind === 'resourceTemplates') {
      // A template names no resource: listed only when the resources default lets the caller read
      // what it expands to.
      const d = server.resources.default;
      return d !== 'deny' && authorizeRule(asToolRule(d), policy, identity).allow ? entries : [];
    }
    return entries.filter((e) => {
      const key = kind === 'resources' ? e.uri : e.name;
      return typeof key === 'string' && authorizeRule(itemRule(kind, key), policy, identity).allow;
    });
  }

  const gate: GateContext = {
    policy: () => catalogue.policy,
    limits: deps.limits,
    audit: deps.audit,
    get tools() { return catalogue.tools; },
    server: server.name,
    itemRule,
  };
  const newServer = createServerFactory({
    get tools() { return catalogue.tools; },
    visibleTools: (identity) => visibleTools(gate, identity),
    audit: deps.audit,
    version: deps.version,
    listTtlMs: deps.listTtlMs,
    tracer: deps.tracer,
    serverInfo: { name: `mcp-oauth-stack-${server.name}`, title: `${server.name} (protected)` },
    server: server.name,
    items: {
      list: visibleItems,
      async forward(item, identity) {
        const out = await upstream.request(item.kind === 'resources' ? 'resources/read' : 'prompts/get', item.params, { identityKey: identityKey(identity) });
        if (!('error' in out)) return out;
        // The upstream's refusal or our connector's fault, in our words. Invalid params (a missing
        // prompt argument, an unknown URI) stays the caller's to fix; anything else is ours.
        const what = item.kind === 'resources' ? 'read the resource' : 'get the prompt';
        return { error: { code: out.error.code === INVALID_PARAMS ? INVALID_PARAMS : -32603, message: `The ${server.name} server could not ${what}: ${out.error.message.slice(0, 200)}` } };
      },
    },
  });

  return {
    name: server.name,
    path: server.path,
    resourceUrl,
    resourceMetadataUrl: resourceMetadataUrl(resourceUrl),
    title: `MCP server ${server.name}`,
    authenticator: deps.authenticatorFor(resourceUrl, server.auth, server.dpop),
    gate,
    policy: () => catalogue.policy,
    http: createMcpHttpServer(newServer, deps.onerror),
    upstream,
    server: () => server,
    applyRules(next) {
      server = next;
      if (catalogue.from) rebuild(catalogue.from);
      else catalogue = { ...catalogue, policy: withItemScopes(buildPolicy({}, server.scopeImplies, server.name)) };
    },
    async refresh(identity) {
      // The connector caches the list for a while. While the upstream cannot be asked the last
      // catalogue stays (a call then gets the connector's error in our words, not "unknown
      // tool"); before it was ever reached the catalogue is empty. Under per-identity isolation
      // the caller's own child is asked.
      let items: ListItem[];
      try {
        items = await upstream.listTools(identity ? { identityKey: identityKey(identity) } : {});
      } catch {
        return;
      }
      if (items !== catalogue.from) rebuild(items);
    },
    async close() {
      await upstream.close();
    },
  };
}
