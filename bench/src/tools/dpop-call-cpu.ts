// CPU per MCP tools/call inside one process, bearer token against DPoP-bound token with a fresh
// proof per call: the MCP app built with buildApp (oauth, the benchmark's trivial tool, audit to a
// file) reached through app.inject, its JWKS answered in process. Rounds alternate bearer and DPoP
// so drift in the machine's load hits both alike; the median of each is reported, and their ratio
// (the issue's target: at most 1.30). Pin it to a core (`taskset -c 1`) and run it more than once.
// Usage: node --import tsx bench/src/tools/dpop-call-cpu.ts [calls per round] [rounds] [ES256|RS256 (the proof key)]
import { generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../../apps/mcp-server/src/app.ts';
import { loadMcpConfig } from '../../../apps/mcp-server/src/config.ts';
import { parsePolicy } from '../../../apps/mcp-server/src/policy.ts';
import { dpopKey, dpopProof } from '../scenarios/dpop.ts';
import { MCP_HEADERS, TOOL_CALL_BODY, TOOL_DESCRIPTION, TOOL_NAME, TOOL_RESULT, TOOL_TITLE } from '../servers/trivial-tool.ts';

const perRound = Number(process.argv[2] ?? '3000');
const rounds = Number(process.argv[3] ?? '6');
const alg = process.argv[4] ?? 'ES256';
if (alg !== 'ES256' && alg !== 'RS256') throw new Error('the proof alg must be ES256 or RS256');
const CONCURRENCY = 10;
const ISSUER = 'http://issuer.invalid';
const URL_ = 'http://127.0.0.1:4999/mcp';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks = JSON.stringify({ keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] });
const b64u = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
function accessToken(extra: Record<string, unknown>): string {
  const now = Math.floor(Date.now() / 1000);
  const input = `${b64u({ alg: 'RS256', typ: 'at+jwt', kid: 'k1' })}.${b64u({ iss: ISSUER, aud: URL_, sub: 'u1', client_id: 'c1', scope: 'db:read', role: 'viewer', iat: now, exp: now + 3600, jti: randomUUID(), ...extra })}`;
  return `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
}

const dir = mkdtempSync(join(tmpdir(), 'dpop-call-cpu-'));
const config = loadMcpConfig({
  NODE_ENV: 'test', MCP_HOST: '127.0.0.1', MCP_PORT: '4999', MCP_PUBLIC_URL: URL_, DATA_DIR: dir, AUTH_ISSUER: ISSUER,
  LOG_LEVEL: 'warn', MCP_AUTH_MODE: 'oauth', REVOCATION_POLL_SECONDS: '0', RATE_LIMIT_PER_MINUTE: '1000000',
});
const policy = parsePolicy({ tools: { [TOOL_NAME]: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'], rate_limit_per_minute: 1_000_000 } } }, 'bench policy');
const app = await buildApp(config, {
  tools: [{ name: TOOL_NAME, title: TOOL_TITLE, description: TOOL_DESCRIPTION, inputSchema: {}, handler: async () => TOOL_RESULT }],
  policy,
  logger: false,
  fetch: async () => new Response(jwks, { headers: { 'content-type': 'application/json' } }),
});
await app.ready();

const key = dpopKey(alg);
const bearer = accessToken({});
const bound = accessToken({ cnf: { jkt: key.jkt } });
const headers = { ...MCP_HEADERS, host: '127.0.0.1:4999' };

async function one(h: Record<string, string>): Promise<void> {
  const r = await app.inject({ method: 'POST', url: '/mcp', headers: { ...headers, ...h }, payload: TOOL_CALL_BODY });
  if (r.statusCode !== 200 || !r.body.includes('"ok"')) throw new Error(`unexpected answer ${r.statusCode}: ${r.body.slice(0, 200)}`);
}

/** CPU µs per call over `n` calls, 10 at a time; `h(i)` gives call i's headers (made before the clock starts). */
async function round(n: number, h: (i: number) => Record<string, string>): Promise<number> {
  const all = Array.from({ length: n }, (_, i) => h(i));
  const cpu = process.cpuUsage();
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) await one(all[next++]!);
  }));
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / n;
}
const bearerHeaders = () => ({ authorization: `Bearer ${bearer}` });
const dpopHeaders = () => ({ authorization: `DPoP ${bound}`, dpop: dpopProof(key, 'POST', URL_, bound) });

// Warm-up: JIT, the token cache and the DPoP key cache, not measured.
await round(2000, bearerHeaders);
await round(2000, dpopHeaders);
const b: number[] = [];
const d: number[] = [];
for (let r = 0; r < rounds; r++) {
  b.push(await round(perRound, bearerHeaders));
  d.push(await round(perRound, dpopHeaders));
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
console.log(JSON.stringify({
  callsPerRound: perRound, rounds, alg,
  bearerUsPerCall: Math.round(median(b)), dpopUsPerCall: Math.round(median(d)),
  ratio: Number((median(d) / median(b)).toFixed(2)),
  bearerRounds: b.map(Math.round), dpopRounds: d.map(Math.round),
}));
await app.close();
rmSync(dir, { recursive: true, force: true });
