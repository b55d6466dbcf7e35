import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { LOAD_CPU, SERVER_CPU, loadCommand, moveToCpu } from '../lib/machine.ts';
import { measure, type Target } from '../lib/load.ts';
import { REPO_ROOT, type ServerProcess } from '../lib/proc.ts';
import { PUBLIC_CLIENT, REDIRECT_URI, USER_PASSWORD } from '../seed/auth-db.ts';
import { record, wanted, type BenchContext } from './context.ts';
import { startMcpServer, startSdkStack, type AuthServer } from './servers.ts';
import { toolCall } from './targets.ts';
import { dpopAccessToken, dpopKey, dpopToolCall, PROOFS_PER_SECOND } from './dpop.ts';
import { DEFAULT_IN_FLIGHT_LIMITS } from '../../../apps/mcp-server/src/http/in-flight.ts';

/**
 * The load of the DPoP rows: one token, so no more connections than the app admits requests in
 * flight per identity. (2) keeps its 10 connections (its calls finish one after another, so it never
 * reaches 8 in flight); a DPoP call waits for its turn's batch of signatures
 * (createSignatureBatch), so with 10 connections 9 or 10 are in flight at once and the last are
 * refused (429), as any client sending more than 8 at once is.
 */
const oneCallerLoad = (c: BenchContext, l = c.load) => ({ ...l, connections: Math.min(l.connections, DEFAULT_IN_FLIGHT_LIMITS.perIdentity) });

interface LoginReport {
  attempted: number;
  succeeded: number;
  failed: number;
  perSecond: number;
  p50: number;
  p99: number;
  firstError?: string;
}

/** Runs the login driver (drivers/logins.ts) in its own process on the load generator's CPU. */
function runLogins(c: BenchContext, as: AuthServer, seconds: number): Promise<LoginReport> {
  const [cmd, args] = loadCommand(['--import', 'tsx', join(REPO_ROOT, 'bench/src/drivers/logins.ts')]);
  const child = spawn(cmd, args, {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? '', AUTH_URL: as.url, RESOURCE: c.resource, CLIENT_ID: PUBLIC_CLIENT, REDIRECT_URI,
      EMAILS: JSON.stringify(as.seeded.users.map((u) => u.email)), PASSWORD: USER_PASSWORD,
      RATE: String(c.opts.loginRate), SECONDS: String(seconds),
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        resolve(JSON.parse(line) as LoginReport);
      } catch {
        reject(new Error(`login driver exited with ${code}: ${out.slice(0, 500)}`));
      }
    });
  });
}

/**
 * The (2d)/(2) target's value. The rows (2) and (2d) are measured about 30 s apart, and on a
 * shared machine one scenario's CPU per request moves by more than the target's 30 % in that
 * time. So after both rows, on the same server with the same tokens and key, bearer and DPoP
 * rounds alternate (as tools/dpop-call-cpu.ts does in one process) and each pair gives one ratio
 * (lib/targets.ts takes their median). No warm-up: the server has just served both kinds of call.
 * Each DPoP round gets proofs signed just before it, never sent before.
 */
async function dpopPairs(c: BenchContext, server: ServerProcess, bearer: Target, dpop: (count: number) => ReturnType<typeof dpopToolCall>): Promise<void> {
  const { pairs, seconds } = c.opts.dpopPairs;
  const load = oneCallerLoad(c, { ...c.load, duration: seconds, warmup: 0 });
  let failures = 0;
  let late = 0;
  for (let i = 0; i < pairs; i++) {
    const b = await measure(bearer, load, server);
    const t = dpop(Math.ceil(seconds * PROOFS_PER_SECOND));
    const d = await measure(t, load, server);
    late += t.signedOnTheSpot();
    failures += b.failures + d.failures;
    c.dpopPairs.push({ bearer: b.cpuPerReq, dpop: d.cpuPerReq });
  }
  c.facts.set('dpop-pairs-failures', failures);
  const shown = c.dpopPairs.map((p) => `${Math.round(p.bearer)}/${Math.round(p.dpop)} (${(p.dpop / p.bearer).toFixed(2)}×)`).join(', ');
  const summary = `${pairs} pairs of ${seconds} s rounds at ${load.connections} connections, bearer/DPoP server CPU µs/req: ${shown}`;
  console.log(`  2d/2 pairs      ${summary}${failures ? `  FAILED ${failures}` : ''}`);
  c.notes.push(`(2d)/(2) target: after both rows, on the same server, ${summary}${late ? `; ${late} proofs signed during the rounds` : ''}${failures ? `; ${failures} requests FAILED` : ''}. The target is the median of the per-pair ratios.`);
}

/** Scenarios 1, 2 (2b, 2d), 7 and 3: the MCP tools/call path on our server and on the SDK's own stack. */
export async function mcpScenarios(c: BenchContext, as: AuthServer, accessToken: string): Promise<void> {
  let server: ServerProcess | undefined;
  let closeDpop: (() => Promise<void>) | undefined;
  try {
    if (wanted(c, 1)) {
      server = await startMcpServer(c, 'none', as.url);
      record(c, { key: '1', scenario: 'MCP tools/call, auth off (none, loopback, --insecure)', result: await measure(toolCall(c.resource), c.load, server) });
      await server.stop();
      server = undefined;
    }
    if (wanted(c, 2) || wanted(c, '2d') || wanted(c, 7)) {
      // (2d): a DPoP-bound token for the same user and resource, and the key that signs its proofs.
      const key = dpopKey();
      const dpop = wanted(c, '2d') ? await dpopAccessToken(as.url, as.seeded.codes[1]!, c.resource, key, accessToken) : undefined;
      if (dpop) console.log(`  (2d) DPoP-bound token from ${dpop.from}`);
      closeDpop = dpop?.close;
      server = await startMcpServer(c, 'oauth', as.url, undefined, {
        ...(dpop?.jwksUrl ? { AUTH_JWKS_URL: dpop.jwksUrl } : {}),
        // A proof's jti stays in the replay cache for 61 s and a full cache refuses calls (503). The
        // default 200,000 holds 61 s at 3,300 DPoP calls/s; (2d) and the rounds after it must never
        // hit it, on any machine. Entries take memory only as proofs arrive, so the bound costs nothing.
        ...(dpop ? { MCP_DPOP_REPLAY_MAX_ENTRIES: '5000000' } : {}),
      });
      c.facts.set('mcp-rss-start-mb', server.rssMb());
      const target = toolCall(c.resource, accessToken);
      if (wanted(c, 2)) {
        record(c, { key: '2', scenario: 'MCP tools/call, bearer JWT (verify, rate limit, authorize, audit file)', result: await measure(target, c.load, server) });
        record(c, { key: '2b', scenario: 'as (2), from a 2026-07-28 client (envelope in _meta, Mcp-Method and Mcp-Name checked)', result: await measure(toolCall(c.resource, accessToken, '2026-07-28'), c.load, server) });
      }
      if (dpop) {
        // Every request carries a proof never sent before, signed ahead of the run (a few thousand
        // requests per second at most on one core, for warm-up and measured window alike).
        const t = dpopToolCall(c.resource, key, dpop.token, Math.ceil((c.load.warmup + c.load.duration) * PROOFS_PER_SECOND));
        const load = oneCallerLoad(c);
        const result = await measure(t, load, server);
        const late = t.signedOnTheSpot();
        record(c, { key: '2d', scenario: `as (2), DPoP-bound token and a fresh ES256 proof per request (${load.connections} connections)`, result, ...(late ? { extra: `${late} proofs signed during the run` } : {}) });
        if (wanted(c, 2)) await dpopPairs(c, server, target, (count) => dpopToolCall(c.resource, key, dpop.token, count));
      }
      if (wanted(c, 7)) {
        // Logins start first and run past the end of the measurement, so every measured second has them.
        const seconds = c.load.warmup + c.load.duration + 2;
        // The authorization server and the MCP server are separate services: sharing one core would
        // measure the benchmark's placement (argon2's ~0.9 core taken from the MCP server), not a stall.
        // The MCP server keeps CPU 1 as in (2); the logins run on CPU 0 with the load generator.
        moveToCpu(as.proc.pid, LOAD_CPU);
        let l: LoginReport;
        let measured: Awaited<ReturnType<typeof measure>>;
        try {
          const logins = runLogins(c, as, seconds);
          await new Promise((r) => setTimeout(r, 1000));
          measured = await measure(target, c.load, server);
          l = await logins;
        } finally {
          moveToCpu(as.proc.pid, SERVER_CPU);
        }
        // A failed login means the scenario did not put the intended load on the server.
        const result = { ...measured, failures: measured.failures + l.failed };
        record(c, {
          key: '7', scenario: `as (2) while ${c.opts.loginRate} logins/s run (argon2id via POST /login)`, result,
          extra: `${l.perSecond.toFixed(1)} logins/s done, login p50 ${l.p50 === null ? '–' : l.p50.toFixed(0)} ms${l.failed ? `, ${l.failed} failed: ${l.firstError}` : ''}`,
        });
        c.facts.set('logins-per-second', l.perSecond);
        c.facts.set('logins-per-second-asked', c.opts.loginRate);
        c.facts.set('login-failures', l.failed);
      }
      c.facts.set('mcp-rss-mb', server.rssMb());
      await server.stop();
      server = undefined;
    }
    if (wanted(c, 3)) {
      server = await startSdkStack(c, as.url);
      record(c, { key: '3', scenario: 'SDK stack: Express + requireBearerAuth + jose, stateless JSON', result: await measure(toolCall(c.resource, accessToken), c.load, server) });
      await server.stop();
      server = undefined;
    }
  } finally {
    await server?.stop();
    await closeDpop?.();
  }
}
