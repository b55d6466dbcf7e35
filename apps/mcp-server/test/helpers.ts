import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { freePort } from '../../../test/helpers/ports.ts';
import { IN_PROCESS, holdPort, routeFetch } from '../../../test/helpers/inject-fetch.ts';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { z } from 'zod';
import { afterAll, beforeAll } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { AuditLog, deriveAuditKeys } from '@stack/audit';
import { openSqliteMcpStore } from '../src/store/sqlite.ts';
import { createApiKeyStore } from '@stack/mcp-auth';
import { buildApp, type BuildDeps } from '../src/app.ts';
import { loadMcpConfig, type McpConfig } from '../src/config.ts';
import { runStdio } from '../src/stdio.ts';
import type { ToolContext, ToolDefinition } from '../src/tools/types.ts';
import { createDemoTools, type DemoToolsOptions } from '../src/tools/index.ts';
import { invokeTool } from './invoke-tool.ts';
import { createMcpTestSchema, TEST_MCP_DB } from './store-helpers.ts';

/** The test servers' audit logs are keyed with a fixed test key (the apps derive theirs from the KEK). */
export const TEST_AUDIT_KEYS = deriveAuditKeys([{ id: 'test-kek', key: Buffer.alloc(32, 7) }]);

export { freePort };

export interface SeenRequest {
  url: string;
  headers: IncomingHttpHeaders;
}

/** A stand-in authorization server: an RS256 key, its JWKS and a revocation feed, all on 127.0.0.1. */
export interface TestIssuer {
  url: string;
  kid: string;
  publicJwk: Record<string, unknown>;
  privateKey: CryptoKey;
  /** Every request the MCP server made to this issuer (JWKS, revocations). */
  seen: SeenRequest[];
  revoked: { jti: string; expiresAt: number }[];
  sign(claims?: JWTPayload, opts?: { header?: Record<string, unknown>; key?: CryptoKey | Uint8Array; alg?: string }): Promise<string>;
  close(): Promise<void>;
}

export async function startIssuer(): Promise<TestIssuer> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const seen: SeenRequest[] = [];
  const revoked: { jti: string; expiresAt: number }[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', headers: req.headers });
    res.setHeader('content-type', 'application/json');
    if (req.url === '/jwks') return res.end(JSON.stringify({ keys: [publicJwk] }));
    if (req.url?.startsWith('/revocations')) return res.end(JSON.stringify({ revoked }));
    res.statusCode = 404;
    res.end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    kid,
    publicJwk,
    privateKey,
    seen,
    revoked,
    async sign(claims = {}, opts = {}) {
      const now = Math.floor(Date.now() / 1000);
      const payload: JWTPayload = {
        iss: url, sub: 'user-1', client_id: 'client-1', scope: 'db:read', role: 'viewer',
        iat: now, exp: now + 300, jti: randomUUID(), ...claims,
      };
      for (const k of Object.keys(payload)) if (payload[k] === undefined) delete payload[k];
      return new SignJWT(payload)
        .setProtectedHeader({ alg: opts.alg ?? 'RS256', typ: 'at+jwt', kid, ...opts.header })
        .sign(opts.key ?? privateKey);
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** A stand-in issuer for the enclosing describe: started before its tests, closed after them. */
export function useIssuer(): Pick<TestIssuer, 'url' | 'sign'> {
  let issuer: TestIssuer | undefined;
  beforeAll(async () => { issuer = await startIssuer(); });
  afterAll(async () => { await issuer?.close(); });
  const started = () => {
    if (!issuer) throw new Error('useIssuer: the issuer starts in beforeAll');
    return issuer;
  };
  return { get url() { return started().url; }, sign: (claims, opts) => started().sign(claims, opts) };
}

/** Calls the tool handlers received, so tests can check what a handler sees (never a token). */
export const handlerCalls: { tool: string; args: unknown; ctx: ToolContext }[] = [];

/** Six small tools named like the demo tools; each echoes its name. */
export function fixtureTools(): ToolDefinition[] {
  const mk = (name: string, inputSchema: z.ZodRawShape): ToolDefinition => ({
    name,
    title: name,
    description: `fixture ${name}`,
    inputSchema,
    async handler(args, ctx) {
      handlerCalls.push({ tool: name, args, ctx });
      if (name === 'execute_sql' && (args as { sql: string }).sql === 'boom') throw new Error('secret internal detail /etc/passwd');
      return { content: [{ type: 'text', text: `${name} ok` }] };
    },
  });
  return [
    mk('list_tables', {}),
    mk('describe_table', { table: z.string().max(64) }),
    mk('query', { sql: z.string().max(1000) }),
    mk('execute_sql', { sql: z.string().max(1000) }),
    mk('delete_users', { ids: z.array(z.number().int()).max(100) }),
    mk('drop_table', { table: z.string().max(64) }),
  ];
}

export interface TestMcpServer {
  app: FastifyInstance;
  config: McpConfig;
  /** Base URL, e.g. http://127.0.0.1:PORT */
  base: string;
  /** The MCP endpoint (canonical resource URL). */
  url: string;
  dataDir: string;
  auditFile: string;
  /** Settings that point a CLI or another instance at the same store (none needed for the SQLite file in dataDir). */
  dbEnv: Record<string, string>;
  audit: () => Record<string, unknown>[];
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts an MCP server for 127.0.0.1:PORT with a fresh data directory; `env` overrides settings by
 * name. Its store is a SQLite file there, or with TEST_MCP_DB=postgres (project mcp-postgres) a
 * fresh schema of the test database, dropped on close (with DATABASE_URL in `env` the caller owns
 * the database). In the integration project (TEST_HTTP=inject) fetch() reaches it in-process through
 * app.inject(); elsewhere, and always over https, it listens on the port.
 */
export async function startMcpServer(env: Record<string, string> = {}, deps: BuildDeps = {}, scheme = 'http'): Promise<TestMcpServer> {
  const held = IN_PROCESS && scheme === 'http' ? await holdPort(env.MCP_PORT ? Number(env.MCP_PORT) : 0) : undefined;
  const port = held?.port ?? (env.MCP_PORT ? Number(env.MCP_PORT) : await freePort());
  const dataDir = mkdtempSync(join(tmpdir(), 'mcp-test-'));
  const base = `${scheme}://127.0.0.1:${port}`;
  const auditFile = join(dataDir, 'audit.log');
  const schema = TEST_MCP_DB === 'postgres' && env.DATABASE_URL === undefined && env.MCP_DATABASE_PATH === undefined ? await createMcpTestSchema() : undefined;
  env = { ...schema?.env, ...env };
  const config = loadMcpConfig({
    NODE_ENV: 'test',
    MCP_HOST: '127.0.0.1',
    MCP_PORT: String(port),
    MCP_PUBLIC_URL: `${base}/mcp`,
    DATA_DIR: dataDir,
    MCP_AUDIT_LOG: auditFile,
    REVOCATION_POLL_SECONDS: '0',
    LOG_LEVEL: 'silent',
    ...env,
  });
  // deps.audit: undefined gives the server its own log (keyed from the KEK, anchored in mcp.db) in auditFile.
  const audit = 'audit' in deps ? undefined : await AuditLog.open({ keys: TEST_AUDIT_KEYS, file: auditFile }, 10_000);
  const app = await buildApp(config, { tools: fixtureTools(), audit, logger: false, ...deps }).catch(async (err: unknown) => {
    await held?.release();
    await schema?.drop();
    throw err;
  });
  const unroute = held ? routeFetch(base, app) : undefined;
  // ready() runs the onReady hooks as listen() would.
  if (unroute) await app.ready();
  else await app.listen({ host: '127.0.0.1', port });
  const close = async () => {
    unroute?.();
    await app.close();
    await held?.release();
    await schema?.drop();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    app, config, base, url: `${base}/mcp`, dataDir, auditFile,
    dbEnv: config.postgres
      ? { DATABASE_URL: config.postgres.url, MCP_DATABASE_SCHEMA: config.postgres.schema, KEY_ENCRYPTION_KEY: config.keyEncryptionKey!.toString('base64') }
      : {},
    audit: () => (audit?.lines ?? []).map((l) => JSON.parse(l) as Record<string, unknown>),
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** An MCP server on in-memory stdio, signed in with a viewer's API key, on a fresh data directory. */
export interface TestStdio {
  stdin: PassThrough;
  stdout: PassThrough;
  audit: AuditLog;
  close(): Promise<void>;
}

/** Starts runStdio() with `tools` (the fixture tools by default); `env` overrides settings by name. */
export async function startStdio(env: Record<string, string> = {}, tools: ToolDefinition[] = fixtureTools()): Promise<TestStdio> {
  const dataDir = mkdtempSync(join(tmpdir(), 'mcp-stdio-'));
  const db = openSqliteMcpStore(join(dataDir, 'mcp.db'));
  const { key } = await createApiKeyStore(db.apiKeys).create({ name: 'local', role: 'viewer' });
  await db.close();
  const config = loadMcpConfig({
    NODE_ENV: 'test', DATA_DIR: dataDir, MCP_TRANSPORT: 'stdio', MCP_API_KEY: key, MCP_AUDIT_LOG: 'off', LOG_LEVEL: 'silent', ...env,
  });
  const audit = await AuditLog.open({ keys: TEST_AUDIT_KEYS }, 10_000);
  const stdin = new PassThrough();
  const stdout = new PassThrough();
  const server = await runStdio(config, { tools, audit }, { stdin, stdout });
  return {
    stdin, stdout, audit,
    async close() {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

/** POSTs one JSON-RPC body to the MCP endpoint. */
export async function rpc(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
}

let nextId = 1;
export const callTool = (name: string, args: Record<string, unknown> = {}) =>
  ({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name, arguments: args } });
export const listTools = () => ({ jsonrpc: '2.0', id: nextId++, method: 'tools/list', params: {} });
export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/**
 * The demo tools on a fresh database in a temporary folder, called directly (no transport): `call`
 * parses a result's JSON, `read` runs `fn` on a separate read-only connection, `peek` reads one
 * value that way, `size` gives a file's size.
 */
export function openDemoTools(opts: Omit<DemoToolsOptions, 'databasePath'> = {}, defaultCaller?: ToolContext) {
  const dir = mkdtempSync(join(tmpdir(), 'mcp-demo-'));
  const path = join(dir, 'demo.db');
  const demo = createDemoTools({ databasePath: path, ...opts });
  const byName = new Map(demo.tools.map((t) => [t.name, t]));
  const tool = (name: string) => byName.get(name)!;
  async function call(name: string, args: unknown, caller: ToolContext | undefined = defaultCaller) {
    if (!caller) throw new TypeError('openDemoTools: no caller given and no default caller');
    const r = await invokeTool(tool(name), args, caller);
    const text = (r.content[0] as { text: string }).text;
    return { isError: r.isError === true, text, data: r.isError ? undefined : JSON.parse(text) };
  }
  const read = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(path, { readonly: true });
    try { return fn(db); } finally { db.close(); }
  };
  const peek = <T>(sql: string): T => read((db) => db.prepare(sql).pluck().get() as T);
  const size = (suffix = '') => (existsSync(path + suffix) ? statSync(path + suffix).size : 0);
  return { dir, path, tool, call, read, peek, size, async close() { await demo.close(); rmSync(dir, { recursive: true, force: true }); } };
}

export type DemoTools = ReturnType<typeof openDemoTools>;
