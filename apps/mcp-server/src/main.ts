import { relative } from 'node:path';
import { AuditChainError } from '@stack/audit';
import { ConfigError } from '@stack/config';
import { buildApp } from './app.ts';
import { configWarnings, loadMcpConfig, type McpConfig } from './config.ts';
import type { PolicyHolder } from './policy.ts';
import type { Endpoint } from './endpoint.ts';
import { describeAccepts } from './pipeline/authenticate.ts';
import { createStackReload, type ReloadOutcome } from './stack-reload.ts';
import { closeOnSignals, exitOnStartupError } from '@stack/fastify-kit';
import { startMetricsServer } from '@stack/metrics';

const display = (p: string) => {
  const r = relative(process.cwd(), p);
  return r.startsWith('..') ? p : `./${r}`;
};

function startupLines(config: McpConfig, policy: PolicyHolder, toolNames: string[], endpoints: readonly Endpoint[] = []): string[] {
  const lines: string[] = [];
  switch (config.transport === 'stdio' ? 'stdio' : config.authMode) {
    case 'oauth': lines.push(`[OK] OAuth token validation enabled (issuer ${config.issuer})`); break;
    case 'apikey': lines.push('[OK] API key authentication enabled'); break;
    case 'mtls': lines.push(`[OK] Client certificate (mTLS) authentication enabled (CA ${display(config.tls?.ca ?? '')})`); break;
    case 'stdio': lines.push('[OK] stdio transport: identity from the API key in MCP_API_KEY'); break;
    case 'none': lines.push(`[WARN] Authentication DISABLED (--insecure): every local caller has role '${config.noAuthRole}'`); break;
  }
  const tools = toolNames.filter((t) => Object.hasOwn(policy.current().tools, t)).length;
  lines.push(`[OK] Role-based access control active (policy ${display(config.policyFile ?? config.stackFile)}, ${tools} tools)`);
  for (const e of endpoints.slice(1)) lines.push(`[OK] Gateway: ${e.name} at ${e.resourceUrl} (accepts ${describeAccepts(e.authenticator.accepts)}${e.authenticator.oauth ? '; audience of its tokens' : ''})`);
  const sinks = [config.auditLog ? display(config.auditLog) : undefined, config.auditStdout ? 'stdout' : undefined].filter(Boolean);
  lines.push(sinks.length ? `[OK] Audit logging to ${sinks.join(' and ')}` : '[WARN] Audit logging is off (MCP_AUDIT_LOG=off)');
  lines.push(`[OK] Rate limiting: ${config.rateLimitPerMinute} req/min per ${config.authMode === 'oauth' && config.transport === 'http' ? 'user' : 'identity'}`);
  if (config.redis) {
    const revocations = config.authMode === 'oauth' && config.revocationPollMs > 0 ? ` and revocations (refused everywhere within ${(2 * config.redis.revocationSyncMs) / 1000} s)` : '';
    lines.push(`[OK] Shared state in Redis (key prefix '${config.redis.keyPrefix}'): rate limits${revocations}`);
  }
  return lines;
}

/** Reloads the stack file (or policy file) on SIGHUP; an invalid file is reported and everything running kept. */
function reloadOnSighup(reload: () => ReloadOutcome, log: (s: string) => void): void {
  process.on('SIGHUP', () => log(reload().line));
}

/** Starts the MCP server from the environment and flags; the only place that reads process.env and listens. */
async function main(): Promise<void> {
  // Whatever this process creates is for this user only (DATA_DIR holds hashes, keys and audit
  // trails). The stores create their files 0600 explicitly; the mask also covers files made by
  // code that takes the default mode (SQLite's own files, libraries, the SQL workers).
  process.umask(0o077);
  let config: McpConfig;
  try {
    config = loadMcpConfig(process.env, process.argv.slice(2));
  } catch (err) {
    if (err instanceof ConfigError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`mcp-server: ${(err as Error).message}\nFlags: --auth-mode=oauth|apikey|mtls|none --transport=http|stdio --audit-log=FILE --insecure\nSee .env.example for every setting and its default.`);
      process.exit(78);
    }
    throw err;
  }
  // In stdio mode standard output is the protocol: everything human goes to standard error.
  const log = config.transport === 'stdio' ? (s: string) => console.error(s) : (s: string) => console.log(s);
  for (const w of configWarnings(config)) console.error(`[WARN] ${w}`);

  if (config.transport === 'stdio') {
    const { runStdio } = await import('./stdio.ts');
    let server;
    try {
      server = await runStdio(config);
    } catch (err) {
      exitOnStartupError('mcp-server', err, { hostSetting: 'MCP_HOST', portSetting: 'MCP_PORT' });
    }
    for (const l of startupLines(config, server.runtime.policy, [...server.runtime.gate.tools.keys()])) log(l);
    log(`MCP server ready on stdio (identity ${server.identity.subject}, role ${server.identity.role})`);
    reloadOnSighup(createStackReload(server.runtime, []), log);
    process.stdin.once('end', () => void server.close().then(() => process.exit(0)));
    return;
  }

  // OpenTelemetry: started before the app is built (its spans need the provider), only when an
  // OTLP endpoint is set, and flushed and stopped when the app closes (SIGTERM, SIGINT).
  const tracing = config.tracing ? (await import('@stack/telemetry/sdk')).startTracing(config.tracing) : undefined;
  const app = await buildApp(config, { environment: process.env, ...(tracing ? { tracing } : {}) }).catch(async (err: unknown) => {
    await tracing?.shutdown();
    // A log that does not continue its anchored chain: one sentence, no stack.
    if (err instanceof AuditChainError) {
      console.error(`mcp-server: ${err.message}`);
      process.exit(1);
    }
    throw err;
  });
  // Prometheus metrics on their own listener (loopback by default), closed with the app.
  const metrics = config.metrics ? await startMetricsServer(app.mcp.metrics.app, config.metrics.host, config.metrics.port, 'MCP_METRICS_PORT') : undefined;
  if (metrics) app.addHook('onClose', () => metrics.close());
  // Added last, so run last on close: the spans of requests still being answered are exported too.
  if (tracing) app.addHook('onClose', () => tracing.shutdown());
  await app.listen({ host: config.host, port: config.port });
  for (const l of startupLines(config, app.mcp.policy, [...app.mcp.gate.tools.keys()], app.mcp.endpoints)) log(l);
  log(`[OK] Metrics: ${metrics ? `http://${metrics.address}/metrics` : 'off (MCP_METRICS_PORT=off)'}`);
  log(`MCP server ready on ${config.publicUrl}`);
  reloadOnSighup(() => app.mcp.reload(), log);

  closeOnSignals(app);
}

// Any other failure before the server is ready (port taken, policy or TLS file unreadable,
// database not writable) is one sentence on stderr and exit 1, never a stack trace.
await main().catch((err: unknown) => exitOnStartupError('mcp-server', err, { hostSetting: 'MCP_HOST', portSetting: 'MCP_PORT' }));
