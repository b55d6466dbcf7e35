// `npm run build` and the compiled apps it produces, as production (`npm run start:prod`) and the
// Docker image run them: plain node, no TypeScript loader. Built once here, in this file's hook.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMPILED_NODE_FLAGS } from '../../scripts/node-flags.ts';
import { ROOT } from './deploy-files.ts';
import { freePort, startApp, testKek, waitReady, type AppProcess } from './app-process.ts';

const BUILD_TIMEOUT_MS = 240_000;
// Generous: CI machines are shared, and a start there can take several times what it takes here.
const START_TIMEOUT_MS = 60_000;
const dirs: string[] = [];
const apps: AppProcess[] = [];
afterAll(() => {
  for (const a of apps) a.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

// Where Node could run TypeScript itself (type stripping, Node 22.6+), it is switched off, so a
// compiled file that still reached a .ts file fails here as it does on Node 20.
const noTypeStripping = (process.features as { typescript?: unknown }).typescript ? ['--no-experimental-strip-types'] : [];

/** Runs a compiled entry point with only `env` (plus PATH) and production's node flags, as the container's entrypoint does. */
function startCompiled(entry: string, port: number, env: Record<string, string>, args: string[] = []): AppProcess {
  const app = startApp(entry, port, env, { nodeArgs: [...noTypeStripping, ...COMPILED_NODE_FLAGS], args });
  apps.push(app);
  return app;
}

const tempDir = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); dirs.push(d); return d; };

describe('npm run build', () => {
  let build: { code: number | null; output: string };
  beforeAll(async () => {
    build = await new Promise((done) => {
      const child = spawn('npm', ['run', 'build'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
      child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
      child.once('close', (code) => done({ code, output }));
    });
  }, BUILD_TIMEOUT_MS);

  it('[DEPLOY-BUILD] compiles every app, package and script to a dist folder beside its source, with the views it reads', () => {
    expect(build.code, build.output).toBe(0);
    for (const file of [
      'apps/auth-server/dist/main.js', 'apps/auth-server/dist/views/layout.eta', 'apps/auth-server/dist/views/app.css',
      'apps/mcp-server/dist/main.js', 'apps/mcp-server/dist/tools/sql-worker.js', 'packages/db/dist/index.js',
      'scripts/dist/start.js', 'scripts/dist/admin.js',
    ]) expect(existsSync(resolve(ROOT, file)), file).toBe(true);
  });

  it('[DEPLOY-BUILD] the compiled authorization server starts and answers /health and /ready', async () => {
    expect(build.code, build.output).toBe(0);
    const port = await freePort();
    const app = startCompiled('apps/auth-server/dist/main.js', port, {
      DATA_DIR: tempDir('build-auth-'), AUTH_HOST: '127.0.0.1', AUTH_PORT: String(port), AUTH_ISSUER: `http://127.0.0.1:${port}`,
      MCP_PUBLIC_ORIGIN: 'http://127.0.0.1:4001', KEY_ENCRYPTION_KEY: testKek(),
    });
    await waitReady(app, 50_000);
    const health = await fetch(`${app.base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    // A page rendered from the copied templates.
    const login = await fetch(`${app.base}/login`);
    expect(login.headers.get('content-type')).toMatch(/text\/html/);
  }, START_TIMEOUT_MS);

  it('[DEPLOY-BUILD] the compiled MCP server starts, answers /health and runs a SQL tool in its compiled worker process', async () => {
    expect(build.code, build.output).toBe(0);
    const port = await freePort();
    const app = startCompiled('apps/mcp-server/dist/main.js', port, {
      DATA_DIR: tempDir('build-mcp-'), MCP_HOST: '127.0.0.1', MCP_PORT: String(port), MCP_PUBLIC_URL: `http://127.0.0.1:${port}/mcp`,
      AUTH_ISSUER: 'http://127.0.0.1:9', KEY_ENCRYPTION_KEY: testKek(),
    }, ['--auth-mode=none', '--insecure']);
    await waitReady(app, 50_000);
    const health = await fetch(`${app.base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const call = await fetch(`${app.base}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'list_tables', arguments: {} } }),
    });
    expect(call.status, app.output()).toBe(200);
    const text = await call.text();
    expect(JSON.parse(text), app.output()).toMatchObject({ result: { content: [{ type: 'text', text: expect.stringContaining('"orders"') as unknown }] } });
  }, START_TIMEOUT_MS);
});
