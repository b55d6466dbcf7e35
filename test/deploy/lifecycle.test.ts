// Health, readiness and graceful shutdown of both apps run as real processes, as in a container:
// SIGTERM must let the request in flight finish, refuse new connections, close the databases
// (SQLite checkpoints and removes the -wal file on a clean close) and exit 0.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, freePort, rawConnection, startApp, statuses, testKek, waitReady, waitRefused, type AppProcess } from './app-process.ts';

const SHUTDOWN_BUDGET_MS = 5000;
const dirs: string[] = [];
const apps: AppProcess[] = [];
afterAll(() => {
  for (const a of apps) a.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const tempDir = (prefix: string) => { const d = mkdtempSync(join(tmpdir(), prefix)); dirs.push(d); return d; };
const settled = <T>(p: Promise<T>) => Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => setTimeout(() => r(false), 0))]);

/** Opens a database file the way an operator would after the stop: it must need no WAL recovery. */
function inspectDb(file: string) {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return { integrity: db.pragma('integrity_check', { simple: true }), db };
  } catch (err) {
    db.close();
    throw err;
  }
}

describe('authorization server process', () => {
  let app: AppProcess;
  let port: number;
  let dataDir: string;
  beforeAll(async () => {
    port = await freePort();
    dataDir = tempDir('auth-life-');
    app = startApp('apps/auth-server/src/main.ts', port, {
      DATA_DIR: dataDir,
      AUTH_HOST: '127.0.0.1',
      AUTH_PORT: String(port),
      AUTH_ISSUER: `http://127.0.0.1:${port}`,
      MCP_PUBLIC_ORIGIN: 'http://127.0.0.1:4001',
      KEY_ENCRYPTION_KEY: testKek(),
    });
    apps.push(app);
    await waitReady(app);
  });

  it('[DEPLOY-HEALTH] answers /health (alive) and /ready (database and signing key usable)', async () => {
    const health = await fetch(`${app.base}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${app.base}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: 'ready' });
  });

  it('[DEPLOY-GRACEFUL-SHUTDOWN] on SIGTERM finishes the registration in flight, refuses new connections, answers 503 on /ready, closes the database and exits 0', async () => {
    const body = JSON.stringify({ client_name: 'In flight', redirect_uris: ['http://127.0.0.1:33418/callback'], application_type: 'native', token_endpoint_auth_method: 'none' });
    const head = `POST /register HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`;
    // Two connections with headers and half a body each: requests in flight, the server reading them.
    const conn = rawConnection(port);
    const keepAlive = rawConnection(port);
    await Promise.all([conn.connected, keepAlive.connected]);
    await conn.write(`${head}${body.slice(0, 20)}`);
    await keepAlive.write(`${head}${body.slice(0, 20)}`);
    await new Promise((r) => setTimeout(r, 200));

    const sigterm = Date.now();
    app.child.kill('SIGTERM');
    expect(await waitRefused(port), 'new connections are refused').toBe(true);
    expect(app.child.exitCode, 'still running while a request is in flight').toBeNull();
    expect(conn.received()).toBe('');

    // The rest of the body, and a readiness probe pipelined on the same (already accepted) connection.
    await conn.write(`${body.slice(20)}GET /ready HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    const raw = await conn.closed;
    const [registered, ready] = statuses(raw);
    expect(registered, raw).toBe(201);
    expect(raw).toContain('"client_name":"In flight"');
    expect(ready, 'a draining server is not ready').toBe(503);
    // A keep-alive connection is closed by the server once its last response is sent, so it
    // cannot hold the shutdown open until its idle timeout.
    await keepAlive.write(body.slice(20));
    expect(statuses(await keepAlive.closed)).toEqual([201]);

    const exit = await app.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sigterm).toBeLessThan(SHUTDOWN_BUDGET_MS);

    // Closed cleanly: the WAL was checkpointed into the main file and removed, and the client
    // written by the in-flight request is there.
    const file = join(dataDir, 'auth.db');
    expect(existsSync(`${file}-wal`), 'auth.db-wal removed by a clean close').toBe(false);
    const { integrity, db } = inspectDb(file);
    try {
      expect(integrity).toBe('ok');
      expect(db.prepare('select count(*) as n from clients where client_name = ?').get('In flight')).toEqual({ n: 2 });
    } finally {
      db.close();
    }
  });
});

describe('MCP server process', () => {
  let app: AppProcess;
  let port: number;
  let dataDir: string;
  let apiKey: string;
  const call = (sql: string) => fetch(`${app.base}/mcp`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': apiKey },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query', arguments: { sql } } }),
  });
  // A statement that keeps the SQL worker busy for a while (no table needed).
  const countTo = (n: number) => `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < ${n}) SELECT count(*) AS n FROM c`;

  beforeAll(async () => {
    port = await freePort();
    dataDir = tempDir('mcp-life-');
    const kek = testKek();
    const created = await admin(['apikeys', 'create', '--name', 'lifecycle', '--role', 'admin'], { DATA_DIR: dataDir, KEY_ENCRYPTION_KEY: kek });
    expect(created.code, created.stderr).toBe(0);
    apiKey = created.stdout.trim().split('\n').at(-1)!;
    app = startApp('apps/mcp-server/src/main.ts', port, {
      DATA_DIR: dataDir,
      MCP_HOST: '127.0.0.1',
      MCP_PORT: String(port),
      MCP_PUBLIC_URL: `http://127.0.0.1:${port}/mcp`,
      MCP_AUTH_MODE: 'apikey',
      KEY_ENCRYPTION_KEY: kek,
    });
    apps.push(app);
    await waitReady(app);
  });

  it('[DEPLOY-HEALTH] answers /health (alive) and /ready (a policy with tools is loaded)', async () => {
    const health = await fetch(`${app.base}/health`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok' }]);
    const ready = await fetch(`${app.base}/ready`);
    expect([ready.status, await ready.json()]).toEqual([200, { status: 'ready' }]);
  });

  it('[DEPLOY-GRACEFUL-SHUTDOWN] on SIGTERM finishes a running tool call, refuses new connections, closes its databases and exits 0', async () => {
    // Size the statement to this machine: about 0.7 s, well inside the 2 s tool time limit.
    expect((await call('SELECT 1')).status).toBe(200); // starts the SQL worker
    let t = Date.now();
    await call('SELECT 1');
    const overhead = Date.now() - t;
    const probe = 1_000_000;
    t = Date.now();
    expect((await call(countTo(probe))).status).toBe(200);
    const perRow = Math.max(Date.now() - t - overhead, 1) / probe;
    const n = Math.max(probe, Math.min(Math.round(700 / perRow), 50_000_000));

    const inFlight = call(countTo(n)).then(async (r) => ({ status: r.status, body: await r.json() as { result?: { isError?: boolean; content: { text: string }[] } } }));
    await new Promise((r) => setTimeout(r, 150));
    const sigterm = Date.now();
    app.child.kill('SIGTERM');
    expect(await waitRefused(port), 'new connections are refused').toBe(true);
    expect(await settled(inFlight), 'the tool call is still running').toBe(false);

    const res = await inFlight;
    expect(res.status).toBe(200);
    expect(res.body.result?.isError).not.toBe(true);
    expect(JSON.parse(res.body.result!.content[0]!.text)).toMatchObject({ columns: ['n'], rows: [[n]] });

    const exit = await app.exited;
    expect(exit).toMatchObject({ code: 0, signal: null });
    expect(exit.at - sigterm).toBeLessThan(SHUTDOWN_BUDGET_MS);

    for (const name of ['mcp.db', 'demo.db']) {
      const file = join(dataDir, name);
      expect(existsSync(`${file}-wal`), `${name}-wal removed by a clean close`).toBe(false);
      const { integrity, db } = inspectDb(file);
      db.close();
      expect(integrity, name).toBe('ok');
    }
  });
});
