import { mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openAuthDb } from '@stack/db';
import { COMPILED_NODE_FLAGS } from '../../../scripts/node-flags.ts';
import { REPO_ROOT, startServer, type ServerProcess } from '../lib/proc.ts';
import { TOOL_DESCRIPTION, TOOL_NAME, TOOL_RESULT, TOOL_TITLE } from '../servers/trivial-tool.ts';
import { freePort } from '../lib/ports.ts';
import { seedAuthDb, type Seeded, type SeedSpec } from '../seed/auth-db.ts';
import { sqliteSink, type RowSink } from '../seed/sinks.ts';
import { logFile, nodeFlags, type BenchContext } from './context.ts';

// Our servers run compiled, as in production (main.ts runs `npm run build` first): plain node with
// production's flags (the workspace packages' dist files, the heap sizes).
const COMPILED = COMPILED_NODE_FLAGS;

export interface AuthServer {
  url: string;
  proc: ServerProcess;
  seeded: Seeded;
}

function authEnv(c: BenchContext, dir: string, port: number, extra: Record<string, string>): Record<string, string> {
  return {
    NODE_ENV: 'test',
    AUTH_ISSUER: `http://127.0.0.1:${port}`,
    AUTH_HOST: '127.0.0.1',
    AUTH_PORT: String(port),
    DATA_DIR: dir,
    AUTH_DATABASE_PATH: join(dir, 'auth.db'),
    KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64'),
    // The shipped stack.yaml's server is at /mcp (its resource is c.resource); the bench's copy of
    // the file adds the gateway scenarios' server (c.gatewayResource).
    MCP_PUBLIC_ORIGIN: new URL(c.resource).origin,
    STACK_FILE: c.stackFile,
    // One token serves every MCP scenario of the run.
    ACCESS_TOKEN_TTL_SECONDS: '3600',
    AUDIT_LOG: join(dir, 'auth-audit.log'),
    // No per-request log lines, in every stack measured.
    LOG_LEVEL: 'warn',
    // Scenario 7's logins all come from 127.0.0.1 and overlap while the core is busy; each attempt
    // holds a slot of the per-address failure limit until it succeeds, so the default 20 would turn
    // the benchmark's own concurrency into 429s. Real logins come from many addresses.
    LOGIN_MAX_FAILURES_PER_ADDRESS: '100000',
    // Likewise every login starts a pending sign-in from 127.0.0.1 (default 60 per address per minute).
    AUTHORIZE_RATE_LIMIT_PER_MINUTE: '100000',
    // And they may all be pending at once when the core is saturated (default 100 live per address).
    AUTHORIZE_MAX_PENDING_PER_ADDRESS: '10000',
    ...extra,
  };
}

/**
 * Seeds a fresh SQLite database (migrated first, by the same code the server uses) and starts the
 * authorization server's own entry point, compiled (apps/auth-server/dist/main.js), on it.
 */
export async function startAuthServer(c: BenchContext, name: string, spec: SeedSpec): Promise<AuthServer> {
  const dir = join(c.work, name);
  mkdirSync(dir, { recursive: true });
  const db = openAuthDb(join(dir, 'auth.db'));
  db.$client.close();
  const t0 = performance.now();
  const sink = sqliteSink(join(dir, 'auth.db'));
  const seeded = await seedAuthDb(sink, spec);
  await sink.close();
  console.log(`  seeded ${name}: ${seeded.rows.toLocaleString('en-US')} rows in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const port = await freePort();
  const proc = await startServer({
    name, command: [...COMPILED, join(REPO_ROOT, 'apps/auth-server/dist/main.js')], env: authEnv(c, dir, port, {}),
    readyUrl: `http://127.0.0.1:${port}/health`, logFile: logFile(c, name), nodeFlags: nodeFlags(c, name),
  });
  return { url: `http://127.0.0.1:${port}`, proc, seeded };
}

/**
 * The same on PostgreSQL: the server starts first (it applies its migrations), then the rows are
 * inserted into its schema. `schema` is the one the server's configuration resolved.
 */
export async function startAuthServerPg(c: BenchContext, name: string, spec: SeedSpec, pg: { url: string; schema: string; env: Record<string, string> }): Promise<AuthServer> {
  const dir = join(c.work, name);
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const proc = await startServer({
    name, command: [...COMPILED, join(REPO_ROOT, 'apps/auth-server/dist/main.js')], env: authEnv(c, dir, port, pg.env),
    readyUrl: `http://127.0.0.1:${port}/health`, logFile: logFile(c, name), nodeFlags: nodeFlags(c, name),
  });
  let sink: RowSink | undefined;
  try {
    const { postgresSink } = await import('../seed/sinks.ts');
    sink = await postgresSink(pg.url, pg.schema);
    const seeded = await seedAuthDb(sink, spec);
    return { url: `http://127.0.0.1:${port}`, proc, seeded };
  } catch (err) {
    await proc.stop();
    throw err;
  } finally {
    await sink?.close();
  }
}

export type McpMode = 'none' | 'oauth';

/**
 * The project's MCP server, compiled (bench/src/servers/mcp-server.mjs: buildApp with the trivial tool); with
 * `gateway`, under that name with its own stack file, whose upstream servers it serves too.
 */
export async function startMcpServer(c: BenchContext, mode: McpMode, issuer: string, gateway?: { name: string; stackFile: string }, env: Record<string, string> = {}): Promise<ServerProcess> {
  const name = gateway?.name ?? `mcp-${mode}`;
  const dir = join(c.work, name);
  mkdirSync(dir, { recursive: true });
  const server = await startServer({
    name,
    command: [...COMPILED, join(REPO_ROOT, 'bench/src/servers/mcp-server.mjs')],
    args: mode === 'none' ? ['--auth-mode=none', '--insecure'] : ['--auth-mode=oauth'],
    env: {
      BENCH_TOOL: JSON.stringify({ name: TOOL_NAME, title: TOOL_TITLE, description: TOOL_DESCRIPTION, result: TOOL_RESULT }),
      NODE_ENV: 'test',
      MCP_HOST: '127.0.0.1',
      MCP_PORT: String(c.mcpPort),
      MCP_PUBLIC_URL: c.resource,
      AUTH_ISSUER: issuer,
      DATA_DIR: dir,
      MCP_AUDIT_LOG: join(dir, 'mcp-audit.log'),
      // Far above what one core serves: the limiter runs and counts, but never throttles the benchmark.
      RATE_LIMIT_PER_MINUTE: '1000000',
      LOG_LEVEL: 'warn',
      ...(gateway ? { STACK_FILE: gateway.stackFile } : {}),
      ...env,
    },
    readyUrl: `http://127.0.0.1:${c.mcpPort}/health`,
    logFile: logFile(c, name),
    nodeFlags: nodeFlags(c, name),
  });
  // The < 200 MB goal holds through the whole run: each instance's peak (upstream children are
  // processes of their own and not counted), read just before it stops.
  const stop = server.stop.bind(server);
  server.stop = async () => {
    recordPeakRss(c, name, server.peakRssMb());
    await stop();
  };
  return server;
}

function recordPeakRss(c: BenchContext, name: string, mb: number): void {
  if (!Number.isFinite(mb)) return;
  console.log(`  ${name}: peak RSS ${mb.toFixed(0)} MB`);
  if (mb > (c.facts.get('mcp-rss-peak-mb') ?? 0)) c.facts.set('mcp-rss-peak-mb', mb);
}

/** The SDK's own stack on the same port and resource URL (bench/src/servers/sdk-stack.ts). */
export function startSdkStack(c: BenchContext, issuer: string): Promise<ServerProcess> {
  return startServer({
    name: 'sdk-stack',
    script: 'bench/src/servers/sdk-stack.ts',
    env: { PORT: String(c.mcpPort), ISSUER: issuer, RESOURCE: c.resource, JWKS_URL: `${issuer}/jwks` },
    readyUrl: `http://127.0.0.1:${c.mcpPort}/health`,
    logFile: logFile(c, 'sdk-stack'),
    nodeFlags: nodeFlags(c, 'sdk-stack'),
  });
}

/** node-oidc-provider with `tokens` refresh tokens created before it listens. */
export async function startOidcProvider(c: BenchContext, tokens: number): Promise<{ url: string; proc: ServerProcess; tokens: string[] }> {
  const port = await freePort();
  const tokensFile = join(c.work, 'oidc-tokens.txt');
  const proc = await startServer({
    name: 'oidc-provider',
    script: 'bench/src/servers/oidc-provider.ts',
    env: { PORT: String(port), RESOURCE: c.resource, TOKEN_COUNT: String(tokens), TOKENS_FILE: tokensFile },
    readyUrl: `http://127.0.0.1:${port}/.well-known/openid-configuration`,
    logFile: logFile(c, 'oidc-provider'),
    nodeFlags: nodeFlags(c, 'oidc-provider'),
  });
  const { readFileSync } = await import('node:fs');
  return { url: `http://127.0.0.1:${port}`, proc, tokens: readFileSync(tokensFile, 'utf8').split('\n').filter(Boolean) };
}
