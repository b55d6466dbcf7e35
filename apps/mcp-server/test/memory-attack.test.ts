// The memory attack, on the MCP server run as a real process (`node --import tsx main.ts`):
// several viewers at once send queries whose single row is 40 MB (a 20 MB blob written out in hex),
// and most of the responses are never read. The main process's resident memory must stay
// under 300 MB and /health must keep answering. The SQL workers are separate processes: a 40 MB
// value lives there for a moment, never in the main process.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteMcpStore } from '../src/store/sqlite.ts';
import { createApiKeyStore } from '@stack/mcp-auth';
import { freePort } from './helpers.ts';

const ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const RSS_LIMIT_MB = 300;
// Safety valve: an unprotected server climbs by gigabytes; stop it long before the machine suffers.
const KILL_AT_MB = 1500;
const ATTACK_MS = 10_000;
const VIEWERS = 4;
// Each viewer runs one statement at a time (the SQL runner refuses a second): wait out the time limit.
const ROUND_MS = 2200;
const SQL = 'SELECT hex(zeroblob(20000000)) AS big, 1 AS one';

const rssMb = (pid: number) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : 0;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** The SQL worker processes (children of the main process), for the record. */
const children = (pid: number): number[] => {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
};
const percentiles = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const at = (p: number) => sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!.toFixed(1) : 'n/a';
  return `${sorted.length} answers, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`;
};
async function healthTimes(port: number, ms: number): Promise<number[]> {
  const out: number[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const t = performance.now();
    if (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.ok, () => false)) out.push(performance.now() - t);
    await sleep(50);
  }
  return out;
}

/** One POST on its own connection whose response is never read: the socket is paused for good. */
function unreadCall(port: number, key: string, id: number): Socket {
  const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'query', arguments: { sql: SQL } } });
  const s = connect({ host: '127.0.0.1', port });
  s.on('error', () => {});
  s.write(`POST /mcp HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\nx-api-key: ${key}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  s.pause();
  return s;
}

describe('memory under a 40 MB-row attack (real process)', () => {
  let dataDir: string;
  let keys: string[];
  let port: number;
  let child: ChildProcess;
  let output = '';

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mcp-mem-'));
    const db = openSqliteMcpStore(join(dataDir, 'mcp.db'));
    const store = createApiKeyStore(db.apiKeys);
    keys = [];
    for (let i = 0; i < VIEWERS; i++) keys.push((await store.create({ name: `viewer-${i}`, role: 'viewer' })).key);
    await db.close();
    port = await freePort();
    child = spawn(process.execPath, ['--import', 'tsx', 'apps/mcp-server/src/main.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', DATA_DIR: dataDir, MCP_METRICS_PORT: '0',
        MCP_HOST: '127.0.0.1', MCP_PORT: String(port), MCP_PUBLIC_URL: `http://127.0.0.1:${port}/mcp`,
        MCP_AUTH_MODE: 'apikey', MCP_AUDIT_LOG: 'off', RATE_LIMIT_PER_MINUTE: '100000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    const deadline = Date.now() + 25_000;
    while (!(await fetch(`http://127.0.0.1:${port}/ready`).then((r) => r.ok, () => false))) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`MCP server did not start:\n${output}`);
      await sleep(100);
    }
  });
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('[HARD-MEM-ATTACK-RSS] stays under 300 MB RSS while viewers send 40 MB rows, most responses unread; /health keeps answering', async () => {
    const pid = child.pid!;
    // /health on the idle server, for comparison (the machine may be busy with other work).
    const idle = await healthTimes(port, 2000);
    const before = rssMb(pid);
    let peak = before;
    let workerPeak = 0;
    let stop = false;
    let killed = false;
    const sampler = (async () => {
      while (!stop) {
        if (child.exitCode !== null) break;
        peak = Math.max(peak, rssMb(pid));
        for (const w of children(pid)) workerPeak = Math.max(workerPeak, (() => { try { return rssMb(w); } catch { return 0; } })());
        if (peak > KILL_AT_MB) { killed = true; child.kill('SIGKILL'); break; }
        await sleep(20);
      }
    })();
    const health: number[] = [];
    let healthFailures = 0;
    const prober = (async () => {
      while (!stop && !killed) {
        const t = performance.now();
        const okHealth = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5000) }).then((r) => r.ok, () => false);
        if (okHealth) health.push(performance.now() - t); else healthFailures++;
        await sleep(50);
      }
    })();

    const sockets: Socket[] = [];
    let id = 1;
    const readReplies: number[] = [];
    const attackers = keys.map(async (key) => {
      const end = Date.now() + ATTACK_MS;
      for (let round = 0; Date.now() < end && !killed; round++) {
        if (round % 3 !== 2) {
          sockets.push(unreadCall(port, key, id++));
          await sleep(ROUND_MS);
          continue;
        }
        // Every third call is read in full; its size is recorded.
        const res = await fetch(`http://127.0.0.1:${port}/mcp`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'x-api-key': key },
          body: JSON.stringify({ jsonrpc: '2.0', id: id++, method: 'tools/call', params: { name: 'query', arguments: { sql: SQL } } }),
          signal: AbortSignal.timeout(15_000),
        }).catch(() => undefined);
        if (res) readReplies.push((await res.arrayBuffer().catch(() => new ArrayBuffer(0))).byteLength);
      }
    });
    await Promise.all(attackers);
    await sleep(2500); // the last statements finish and their replies are written (or not)
    stop = true;
    await Promise.all([sampler, prober]);
    for (const s of sockets) s.destroy();

    console.log(`[memory-attack] main process RSS before ${before.toFixed(0)} MB, peak ${peak.toFixed(0)} MB (SQL worker peak ${workerPeak.toFixed(0)} MB); ` +
      `${sockets.length} unread calls, ${readReplies.length} read (largest reply ${Math.max(0, ...readReplies)} bytes); ` +
      `/health idle: ${percentiles(idle)}; under attack: ${percentiles(health)}, ${healthFailures} failures`);

    expect(killed, `RSS passed ${KILL_AT_MB} MB: the server was stopped`).toBe(false);
    expect(peak).toBeLessThan(RSS_LIMIT_MB);
    expect(health.length).toBeGreaterThan(0);
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
  }, 60_000);
});
