import { buildApp } from './app.ts';
import { configWarnings, loadAuthConfig } from './config.ts';
import { AuditChainError } from '@stack/audit';
import { ConfigError } from '@stack/config';
import { closeOnSignals, exitOnStartupError } from '@stack/fastify-kit';
import { existsSync } from 'node:fs';
import type { AsyncRefLookup } from '@stack/stack-config';
import { createSecretStore, secretsSettings, type SecretStore } from '@stack/mcp-server/secrets';
import { openMcpStore, type McpStore } from '@stack/mcp-server/store';
import { federationRedirectUri } from './services/federation-providers.ts';

/**
 * The stack file's ${env:NAME} (this process's environment) and ${secret:NAME} (the MCP server's
 * encrypted secret store, `npm run admin -- secrets set NAME`, opened on first use: the SQLite file
 * on this host, or with DATABASE_URL its tables in PostgreSQL, schema MCP_DATABASE_SCHEMA):
 * identity providers' client secrets. A host without that store resolves no secret, and the
 * provider's page says which reference is not set.
 */
function refLookup(env: NodeJS.ProcessEnv): AsyncRefLookup & { close(): Promise<void> } {
  let store: Promise<SecretStore | undefined> | undefined;
  // The database it opened (a PostgreSQL pool or the SQLite file), closed with the app.
  let opened: McpStore | undefined;
  const open = async () => {
    const settings = secretsSettings(env);
    if (!settings.postgres && (settings.databasePath === ':memory:' || !existsSync(settings.databasePath))) return undefined;
    opened = await openMcpStore(settings);
    return createSecretStore(opened.secrets, settings.keks());
  };
  return {
    async close() {
      const o = opened;
      opened = undefined;
      store = undefined;
      await o?.close();
    },
    env: (name) => env[name],
    async secret(name) {
      // Opened again on the next lookup when opening failed (the database was down).
      const s = await (store ??= open().catch((err: unknown) => {
        store = undefined;
        throw err;
      }));
      return s?.get(name);
    },
  };
}
import { startMetricsServer } from '@stack/metrics';

/** Starts the authorization server from the environment; the only place that reads process.env and listens. */
async function main(): Promise<void> {
  // Whatever this process creates is for this user only (DATA_DIR holds hashes, keys and audit
  // trails). The stores create their files 0600 explicitly; the mask also covers files made by
  // code that takes the default mode (SQLite's own files, libraries, the SQL workers).
  process.umask(0o077);
  let config;
  try {
    config = loadAuthConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`auth-server: ${err.message}\nSee .env.example for every setting and its default.`);
      process.exit(78);
    }
    throw err;
  }
  for (const w of configWarnings(config)) console.warn(`[WARN] ${w}`);
  // OpenTelemetry: started before the app is built (its spans need the provider), only when an
  // OTLP endpoint is set, and flushed and stopped when the app closes (SIGTERM, SIGINT).
  const tracing = config.tracing ? (await import('@stack/telemetry/sdk')).startTracing(config.tracing) : undefined;
  const refs = refLookup(process.env);
  const app = await buildApp(config, { refs, ...(tracing ? { tracing } : {}) }).catch(async (err: unknown) => {
    await refs.close();
    await tracing?.shutdown();
    // A log that does not continue its anchored chain: one sentence, no stack.
    if (err instanceof AuditChainError) {
      console.error(`auth-server: ${err.message}`);
      process.exit(1);
    }
    throw err;
  });
  // Prometheus metrics on their own listener (loopback by default), closed with the app.
  const metrics = config.metrics ? await startMetricsServer(app.ctx.metrics.app, config.metrics.host, config.metrics.port, 'AUTH_METRICS_PORT') : undefined;
  if (metrics) app.addHook('onClose', () => metrics.close());
  app.addHook('onClose', () => refs.close());
  // Added last, so run last on close: the spans of requests still being answered are exported too.
  if (tracing) app.addHook('onClose', () => tracing.shutdown());
  await app.listen({ host: config.host, port: config.port });
  console.log(`Authorization server ready on ${config.issuer} (listening on ${config.host}:${config.port})`);
  console.log(`  metrics: ${metrics ? `http://${metrics.address}/metrics` : 'off (AUTH_METRICS_PORT=off)'}`);
  console.log(`  metadata: ${config.issuer}/.well-known/oauth-authorization-server`);
  console.log(`  stack file: ${app.ctx.stack.current().source}`);
  console.log(`  resources served: ${app.ctx.stack.resources().join(', ')}`);
  // The redirect URI each identity provider must have registered for our client.
  for (const p of app.ctx.stack.current().identityProviders) {
    console.log(`  identity provider ${p.name}: register the redirect URI ${federationRedirectUri(config.issuer, p.slug)}`);
  }
  if (!app.ctx.stack.current().passwordLogin) console.log('  password login: off (identity providers only)');
  // The URL itself is never printed: it may carry the database password.
  console.log(`  storage: ${config.postgres ? `PostgreSQL (DATABASE_URL, schema ${config.postgres.schema})` : `SQLite ${config.databasePath}`}`);
  const users = await import('./services/users.ts').then((m) => m.countUsers(app.ctx.store)).catch(() => -1);
  if (users === 0) {
    console.log('No users yet. Create the first admin:');
    console.log("  printf '%s' 'a-long-password' | npm run admin -- users add --email you@example.com --role admin --password-stdin");
  }

  // SIGHUP reads the stack file again; an invalid one is logged (one line) and the running one kept.
  process.on('SIGHUP', () => void app.ctx.stack.reload());
  closeOnSignals(app);
}

// Any other failure before the server is ready (port taken, unreadable key or file, database
// unreachable) is one sentence on stderr and exit 1, never a stack trace.
await main().catch((err: unknown) => exitOnStartupError('auth-server', err, { hostSetting: 'AUTH_HOST', portSetting: 'AUTH_PORT' }));
