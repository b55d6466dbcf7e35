// Client CPU per tools/call through the gateway's HTTP upstream connector (createHttpUpstream),
// against a bare fetch of the same call on the same MCP session, with server-everything on
// Streamable HTTP as the upstream (bench/src/servers/everything-http.mjs, started here, pinned to
// CPU 1 when taskset exists). Only this process's CPU is counted: the connector's own cost per
// call, without the gateway's pipeline in front of it. For comparing code versions on one
// machine; pin this process to the other core (`taskset -c 0`) and run each version more than once.
// Usage: taskset -c 0 node --import tsx bench/src/tools/upstream-call-cpu.ts [calls]
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createHttpUpstream } from '../../../apps/mcp-server/src/upstream/http-upstream.ts';
import { freePort } from '../lib/ports.ts';
import { REPO_ROOT } from '../lib/proc.ts';

const calls = Number(process.argv[2] ?? '3000');
const CONCURRENCY = 10;
const PROTOCOL = '2025-11-25';

const port = await freePort();
const url = `http://127.0.0.1:${port}/mcp`;
const entry = join(REPO_ROOT, 'bench/src/servers/everything-http.mjs');
const pinned = spawnSync('taskset', ['-V']).status === 0;
const server = spawn(pinned ? 'taskset' : process.execPath, [...(pinned ? ['-c', '1', process.execPath] : []), entry], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
try {
  for (let i = 0; ; i++) {
    try {
      await (await fetch(url)).arrayBuffer();
      break;
    } catch {
      if (i > 100) throw new Error('server-everything did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  const args = { name: 'echo', arguments: { message: 'bench' } };
  const upstream = createHttpUpstream({ name: 'everything', url });
  const viaConnector = async () => {
    const out = await upstream.request('tools/call', args);
    if (!('result' in out)) throw new Error(`connector: ${JSON.stringify(out)}`);
  };

  // A session for the bare calls, opened as a client does.
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const init = await fetch(url, { method: 'POST', headers, body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1' } } }) });
  await init.text();
  const session = { ...headers, 'mcp-protocol-version': PROTOCOL, 'mcp-session-id': init.headers.get('mcp-session-id') ?? '' };
  await (await fetch(url, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) })).arrayBuffer();
  let id = 0;
  const bare = async () => {
    const r = await fetch(url, { method: 'POST', headers: session, body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method: 'tools/call', params: args }) });
    const text = await r.text();
    if (!text.includes('Echo: bench')) throw new Error(`bare: ${r.status} ${text.slice(0, 200)}`);
  };

  /** `n` calls, CONCURRENCY at a time; this process's CPU µs per call. */
  async function cpuPerCall(one: () => Promise<void>, n: number): Promise<number> {
    const cpu0 = process.cpuUsage();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < n) await one();
    }));
    const cpu = process.cpuUsage(cpu0);
    return (cpu.user + cpu.system) / n;
  }

  await cpuPerCall(viaConnector, 500);
  await cpuPerCall(bare, 500);
  for (let round = 1; round <= 2; round++) {
    const c = await cpuPerCall(viaConnector, calls);
    const b = await cpuPerCall(bare, calls);
    console.log(`round ${round}: connector ${Math.round(c)} µs/call, bare fetch ${Math.round(b)} µs/call (${calls} calls each, ${CONCURRENCY} at a time)`);
  }
  await upstream.close();
} finally {
  server.kill();
}
