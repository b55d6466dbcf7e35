import { isDeepStrictEqual } from 'node:util';
import type { ServerConfig, StackConfig } from '@stack/stack-config';
import { loadPolicyFile, readStackFile, stackPolicy, type Policy } from './policy.ts';
import type { Runtime } from './runtime.ts';
import type { GatewayEndpoint } from './gateway/upstream-endpoint.ts';

/** What a reload did, as the one log line main.ts writes. */
export interface ReloadOutcome {
  ok: boolean;
  line: string;
}

/** What of a server only a restart can change: where it is served, what it talks to and how callers sign in. */
function restartOnly(was: ServerConfig, now: ServerConfig): string[] {
  const changed: string[] = [];
  if (was.path !== now.path) changed.push('path');
  if (!isDeepStrictEqual(was.upstream, now.upstream) || was.timeoutSeconds !== now.timeoutSeconds || was.maxResponseBytes !== now.maxResponseBytes) changed.push('upstream');
  if (!isDeepStrictEqual(was.auth, now.auth)) changed.push('auth');
  if (was.dpop !== now.dpop) changed.push('dpop');
  return changed;
}

// One line per reload: a multi-line error (every problem of the file) joined.
const oneLine = (err: unknown) => (err instanceof Error ? err.message : String(err)).split('\n').map((l) => l.trim().replace(/^- /, '')).filter(Boolean).join('; ');

/**
 * Reads the stack file again (SIGHUP; once per reload) and applies what can change while running:
 * the built-in server's rules (or the policy file's, when one replaces them), each running gateway
 * server's tool, resource and prompt rules, defaults, scope_implies and rate limits, and the scopes
 * each role may hold. The file is checked as a whole first: an invalid one changes nothing. A
 * server added or removed, or a changed path, upstream, auth or dpop, needs a restart: it is named in
 * the line and that server keeps running as it was.
 */
export function createStackReload(runtime: Runtime, gateway: readonly GatewayEndpoint[]): () => ReloadOutcome {
  const { config } = runtime;
  // With a policy file on stdio nothing reads the stack file (the built-in role table applies).
  const usesStack = !(config.policyFile && config.transport === 'stdio');
  // The servers as this process serves them: from the file it started with, and what it applied since.
  const builtinAtStart = usesStack ? runtime.stack().servers.filter((s) => s.upstream.kind === 'builtin') : [];

  return () => {
    let next: StackConfig | undefined;
    let builtin: Policy;
    try {
      next = usesStack ? readStackFile(config.stackFile, config.env) : undefined;
      builtin = config.policyFile ? loadPolicyFile(config.policyFile) : stackPolicy(next!, config.mcpPath, [...runtime.gate.tools.keys()]);
    } catch (err) {
      return { ok: false, line: `[ERROR] Stack file not reloaded, keeping the running rules: ${oneLine(err)}` };
    }
    if (!next) {
      runtime.policy.replace(builtin);
      return { ok: true, line: `[OK] Policy reloaded (${Object.keys(builtin.tools).length} tools)` };
    }

    const running = [...builtinAtStart, ...gateway.map((g) => g.server())];
    const restart: string[] = [];
    const apply: [GatewayEndpoint, ServerConfig][] = [];
    for (const s of next.servers) if (!running.some((r) => r.name === s.name)) restart.push(`server ${s.name} added`);
    for (const was of running) {
      const now = next.servers.find((s) => s.name === was.name);
      const changed = now ? restartOnly(was, now) : [];
      if (!now) restart.push(`server ${was.name} removed`);
      else if (changed.length) restart.push(`server ${was.name}: ${changed.join(', ')} changed`);
      const endpoint = gateway.find((g) => g.name === was.name);
      if (endpoint && now && !changed.length) apply.push([endpoint, now]);
    }
    runtime.useStack(next, builtin);
    for (const [endpoint, now] of apply) endpoint.applyRules(now);

    const applied = [`built-in rules (${Object.keys(builtin.tools).length} tools)`, ...apply.map(([e]) => `server ${e.name}`), ...(config.policyFile ? [] : ['role scopes'])];
    return { ok: true, line: `[OK] Stack file reloaded: ${applied.join(', ')}${restart.length ? `; restart to apply: ${restart.join('; ')}` : ''}` };
  };
}
