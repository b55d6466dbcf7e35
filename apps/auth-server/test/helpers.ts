import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { AuditLog } from '@stack/audit';
import { buildApp, type BuildOptions } from '../src/app.ts';
import { loadAuthConfig, type AuthConfig } from '../src/config.ts';

/** A free TCP port on 127.0.0.1 (the issuer URL must be known before the app is built). */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `n` distinct free ports, held open together while chosen so no two are the same. */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export interface TestAuthServer {
  app: FastifyInstance;
  config: AuthConfig;
  /** Issuer / base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  dataDir: string;
  /** Audit lines written during the test (parsed). */
  auditEvents: () => Record<string, unknown>[];
  close: () => Promise<void>;
  [Symbol.asyncDispose]: () => Promise<void>;
}

/**
 * Starts a real auth server on 127.0.0.1 with a fresh temporary data directory and database.
 * `env` overrides settings by their environment names.
 */
export async function startAuthServer(env: Record<string, string> = {}, opts: BuildOptions = {}): Promise<TestAuthServer> {
  const port = env.AUTH_PORT ? Number(env.AUTH_PORT) : await freePort();
  const dataDir = mkdtempSync(join(tmpdir(), 'auth-test-'));
  const url = `http://127.0.0.1:${port}`;
  const config = loadAuthConfig({
    NODE_ENV: 'test',
    AUTH_ISSUER: url,
    AUTH_HOST: '127.0.0.1',
    AUTH_PORT: String(port),
    DATA_DIR: dataDir,
    MCP_RESOURCES: 'http://127.0.0.1:4999/mcp',
    LOG_LEVEL: 'silent',
    ...env,
  });
  const audit = new AuditLog({ file: join(dataDir, 'audit.log') }, 10_000);
  const app = await buildApp(config, { audit, ...opts });
  await app.listen({ host: '127.0.0.1', port });
  const close = async () => {
    await app.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return {
    app,
    config,
    url,
    dataDir,
    auditEvents: () => audit.lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    close,
    [Symbol.asyncDispose]: close,
  };
}
