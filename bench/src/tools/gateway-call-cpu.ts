// CPU per MCP tools/call in the gateway process, for comparing code versions: the MCP app built
// with buildApp (oauth, audit to a file) with one gateway server whose upstream is server-everything
// on Streamable HTTP (bench/src/servers/everything-http.mjs, started here and pinned to CPU 1 when
// taskset exists), reached through app.inject with bearer tokens the app trusts (its JWKS answered
// in process). Only this process's CPU is counted: the gateway's pipeline and its upstream
// connector, not server-everything. Pin this process to the other core and run it more than once:
//   taskset -c 0 node --import tsx bench/src/tools/gateway-call-cpu.ts [calls per round] [rounds]
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../../apps/mcp-server/src/app.ts';
import { loadMcpConfig } from '../../../apps/mcp-server/src/config.ts';
import { freePort } from '../lib/ports.ts';
import { REPO_ROOT } from '../lib/proc.ts';
import { GATEWAY_PATH, writeStackFile } from '../scenarios/gateway.ts';

const perRound = Number(process.argv[2] ?? '2000');
const rounds = Number(process.argv[3] ?? '5');
const CONCURRENCY = 10;
const ISSUER = 'http://issuer.invalid';
const ORIGIN = 'http://127.0.0.1:4998';
const RESOURCE = `${ORIGIN}${GATEWAY_PATH}`;

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });
const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function accessToken(sub: string): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64u({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' })}.${b64u({ iss: ISSUER, aud: RESOURCE, sub, client_id: 'c1', scope: 'db:read', role: 'viewer', iat: now, exp: now + 3600, jti: randomUUID() })}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

const port = await freePort();
const upstreamUrl = `http://127.0.0.1:${port}/mcp`;
const pinned = spawnSync('taskset', ['-V']).status === 0;
const entry = join(REPO_ROOT, 'bench/src/servers/everything-http.mjs');
const server = spawn(pinned ? 'taskset' : process.execPath, [...(pinned ? ['-c', '1', process.execPath] : []), entry], { env: { ...process.env, PORT: String(port) }, stdio: 'ignore' });
const dir = mkdtempSync(join(tmpdir(), 'gateway-call-cpu-'));
try {
  for (let i = 0; ; i++) {
    try {
      await (await fetch(upstreamUrl)).arrayBuffer();
      break;
    } catch {
      if (i > 100) throw new Error('server-everything did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const config = loadMcpConfig({
    NODE_ENV: 'test', MCP_HOST: '127.0.0.1', MCP_PORT: '4998', MCP_PUBLIC_URL: `${ORIGIN}/mcp`, DATA_DIR: dir, AUTH_ISSUER: ISSUER,
    LOG_LEVEL: 'warn', MCP_AUTH_MODE: 'oauth', REVOCATION_POLL_SECONDS: '0', RATE_LIMIT_PER_MINUTE: '1000000',
    STACK_FILE: writeStackFile(join(dir, 'stack.json'), { url: upstreamUrl }),
  });
  const app = await buildApp(config, {
    logger: false,
    fetch: async () => new Response(jwks, { headers: { 'content-type': 'application/json' } }),
  });
  await app.ready();
  // One caller per concurrent slot, as a gateway serves many users (the app admits 8 in flight per identity).
  const tokens = Array.from({ length: CONCURRENCY }, (_, i) => accessToken(`user-${i}`));
  const headers = { host: '127.0.0.1:4998', 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': '2025-11-25' };
  let rpcId = 0;
  const one = async (slot: number): Promise<void> => {
    const payload = JSON.stringify({ jsonrpc: '2.0', id: ++rpcId, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hello' } } });
    const r = await app.inject({ method: 'POST', url: GATEWAY_PATH, headers: { ...headers, authorization: `Bearer ${tokens[slot]!}` }, payload });
    if (r.statusCode !== 200 || !r.body.includes('Echo: hello')) throw new Error(`unexpected answer ${r.statusCode}: ${r.body.slice(0, 300)}`);
  };
  const round = async (n: number): Promise<number> => {
    const cpu = process.cpuUsage();
    let next = 0;
    await Promise.all(Array.from({ length: CONCURRENCY }, async (_, slot) => {
      while (next++ < n) await one(slot);
    }));
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / n;
  };
  await round(1000);
  const results: number[] = [];
  for (let r = 0; r < rounds; r++) results.push(Math.round(await round(perRound)));
  const median = [...results].sort((a, b) => a - b)[Math.floor(results.length / 2)]!;
  console.log(JSON.stringify({ callsPerRound: perRound, rounds: results, medianUsPerCall: median }));
  await app.close();
} finally {
  server.kill();
  rmSync(dir, { recursive: true, force: true });
}
