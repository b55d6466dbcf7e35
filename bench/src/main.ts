// npm run bench [-- --quick]: measures the cost of security side by side with the reference stacks
// (see bench/README.md). Servers run in their own processes, autocannon in this one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { machineInfo, pinSelf } from './lib/machine.ts';
import { parseOptions } from './lib/options.ts';
import { freePort } from './lib/ports.ts';
import { REPO_ROOT } from './lib/proc.ts';
import { markdown, resultsTable, targetsTable } from './lib/report.ts';
import { computeTargets } from './lib/targets.ts';
import type { SeedSpec } from './seed/auth-db.ts';
import { wanted, type BenchContext } from './scenarios/context.ts';
import { GATEWAY_PATH, gatewayScenarios, writeStackFile } from './scenarios/gateway.ts';
import { mcpScenarios } from './scenarios/mcp.ts';
import { postgresScenarios } from './scenarios/postgres.ts';
import { startAuthServer } from './scenarios/servers.ts';
import { accessTokenFrom } from './scenarios/targets.ts';
import { chainsPerRun, growthScenarios, oidcScenario, tokenScenarios } from './scenarios/tokens.ts';

const opts = parseOptions(process.argv.slice(2));
pinSelf();
const started = performance.now();
// Our servers run the compiled JavaScript production runs (`npm run build`), built from this tree.
execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'scripts/build.ts')], { cwd: REPO_ROOT, stdio: 'inherit' });
const work = mkdtempSync(join(tmpdir(), 'mcp-bench-'));
const mcpPort = await freePort();
const c: BenchContext = {
  opts,
  load: { connections: opts.connections, duration: opts.duration, warmup: opts.warmup },
  work,
  mcpPort,
  resource: `http://127.0.0.1:${mcpPort}/mcp`,
  gatewayResource: `http://127.0.0.1:${mcpPort}${GATEWAY_PATH}`,
  // The authorization servers read only its paths and scopes (which resources they issue tokens
  // for); nothing listens at this upstream URL and nothing connects to it.
  stackFile: writeStackFile(join(work, 'stack-auth.json'), { url: 'http://127.0.0.1:9/mcp' }),
  rows: [],
  notes: [],
  facts: new Map(),
  dpopPairs: [],
};
const machine = machineInfo();
const settings = `${c.load.connections} connections, ${c.load.duration} s measured after ${c.load.warmup} s warm-up, per scenario${opts.quick ? ' (--quick)' : ''}`;
console.log(`bench: ${machine.cpus} × ${machine.cpuModel}, Node ${machine.node}, load average ${machine.loadAverage.toFixed(2)}; ${settings}\n  ${machine.placement}\n  work directory ${work}`);

// Codes for the authorization_code run: more than one core can redeem in the time given.
const codesNeeded = Math.ceil(3000 * (c.load.duration + c.load.warmup));
const mainSpec: SeedSpec = {
  resource: c.resource,
  // Enough accounts that no account has several logins in flight (the per-account limit is 5).
  users: 50,
  clients: 100,
  backgroundTokens: 1000,
  // The first code is redeemed for (2)'s bearer token, the second for (2d)'s DPoP-bound one.
  codes: wanted(c, 4) ? codesNeeded : 2,
  chainSets: [chainsPerRun(c)],
  sampleSize: 1000,
  // One caller per connection in the gateway scenarios (our app admits 8 requests in flight per identity).
  otherResources: [{ resource: c.gatewayResource, codes: c.load.connections }],
};

let failed = false;
try {
  const as = await startAuthServer(c, 'auth-main', mainSpec);
  try {
    if ([1, 2, '2d', 3, 7].some((n) => wanted(c, n))) {
      await mcpScenarios(c, as, await accessTokenFrom(as.url, as.seeded.codes[0]!, c.resource));
    }
    await gatewayScenarios(c, as);
    if (wanted(c, 4)) await tokenScenarios(c, as, 'SQLite');
  } finally {
    await as.proc.stop();
  }
  await oidcScenario(c);
  await postgresScenarios(c, mainSpec);
  await growthScenarios(c, { ...mainSpec, codes: 1 });
} catch (err) {
  failed = true;
  console.error(`bench failed: ${(err as Error).stack ?? String(err)}\n  server logs are in ${work}`);
}

const targets = computeTargets(c.rows, c.facts, c.dpopPairs);
const broken = c.rows.filter((r) => r.result.failures > 0).map((r) => r.key);
if ((c.facts.get('dpop-pairs-failures') ?? 0) > 0) broken.push('the (2d)/(2) alternating rounds');
if (broken.length) c.notes.push(`Failed requests in ${broken.join(', ')}: those rows do not measure what they name.`);
c.notes.push(
  'Every server logs at level warn (no per-request lines; server-everything\'s per-request console.log is silenced). Our MCP server audits every call to a hash-chained file in (1), (2), (7), (g2) and (g3) alike; its per-identity and per-tool rate limits are set to 1,000,000/min so they count but never throttle.',
  'Gateway rows (g1–g4): server CPU µs/req is the sum over every process of the scenario (gateway or mcp-proxy, and the server-everything it talks to or starts), each one\'s share shown in the row.',
  'Refresh runs keep one rotation chain per request in flight: each response\'s new refresh token is used by a later request, as clients do. Codes are seeded unused; each request redeems its own.',
);
console.log(`\n${resultsTable(c.rows)}\n\n${targetsTable(targets)}\n`);
for (const n of c.notes) console.log(`- ${n}`);
if (opts.out && !failed && opts.only.size === 0) {
  const out = resolve(process.env.INIT_CWD && process.argv.some((a) => a.startsWith('--out')) ? process.env.INIT_CWD : join(REPO_ROOT, 'bench'), opts.out);
  writeFileSync(out, markdown(machine, settings, c.rows, targets, c.notes, loadavg()[0] ?? Number.NaN));
  console.log(`\nwrote ${out}`);
}
console.log(`bench took ${((performance.now() - started) / 1000).toFixed(0)} s`);
if (!failed && broken.length === 0) rmSync(work, { recursive: true, force: true });
process.exit(failed || broken.length ? 1 : 0);
