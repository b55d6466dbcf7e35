// CPU per MCP tools/call inside one process: the MCP app built with buildApp (auth off, the
// benchmark's trivial tool, audit to a file) and reached through app.inject, so no socket, load
// generator or other process shares the measurement. For comparing code versions on one machine;
// pin it to a core (`taskset -c 1`) and run each version more than once.
// --tracing: OpenTelemetry on, as main.ts starts it (startTracing), exporting OTLP/HTTP to a sink
// in this process that reads and drops each batch, so the spans' export is counted too.
// Usage: node --import tsx bench/src/tools/mcp-call-cpu.ts [2025-11-25|2026-07-28] [calls] [--tracing]
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildApp } from '../../../apps/mcp-server/src/app.ts';
import { loadMcpConfig } from '../../../apps/mcp-server/src/config.ts';
import { parsePolicy } from '../../../apps/mcp-server/src/policy.ts';
import { MCP_HEADERS, MCP_HEADERS_2026, TOOL_CALL_BODY, TOOL_CALL_BODY_2026, TOOL_DESCRIPTION, TOOL_NAME, TOOL_RESULT, TOOL_TITLE } from '../servers/trivial-tool.ts';

const tracingOn = process.argv.includes('--tracing');
const args = process.argv.slice(2).filter((a) => a !== '--tracing');
const revision = args[0] ?? '2025-11-25';
if (revision !== '2025-11-25' && revision !== '2026-07-28') throw new Error('revision must be 2025-11-25 or 2026-07-28');
const calls = Number(args[1] ?? '8000');
const CONCURRENCY = 10;

const dir = mkdtempSync(join(tmpdir(), 'mcp-call-cpu-'));
const config = loadMcpConfig({
  NODE_ENV: 'test', MCP_HOST: '127.0.0.1', MCP_PORT: '4999', MCP_PUBLIC_URL: 'http://127.0.0.1:4999/mcp', DATA_DIR: dir,
  LOG_LEVEL: 'warn', MCP_AUTH_MODE: 'none', REVOCATION_POLL_SECONDS: '0', RATE_LIMIT_PER_MINUTE: '1000000',
}, ['--insecure']);
const policy = parsePolicy({ tools: { [TOOL_NAME]: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'], rate_limit_per_minute: 1_000_000 } } }, 'bench policy');
// The collector stand-in: every batch read and dropped.
let exportedBytes = 0;
const sink = tracingOn ? createServer((req, res) => {
  req.on('data', (c: Buffer) => { exportedBytes += c.length; });
  req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
}) : undefined;
if (sink) await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
// The exporter reads its endpoint from the environment, as in main.ts. A queue large enough and
// batches often enough that the spans are exported rather than dropped at this rate.
if (sink) {
  process.env.OTEL_EXPORTER_OTLP_ENDPOINT = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`;
  process.env.OTEL_BSP_MAX_QUEUE_SIZE ??= '100000';
  process.env.OTEL_BSP_SCHEDULE_DELAY ??= '200';
}
const tracing = sink ? (await import('@stack/telemetry/sdk')).startTracing({ serviceName: 'mcp-oauth-mcp-server', protocol: 'http/protobuf' }) : undefined;
const app = await buildApp(config, {
  ...(tracing ? { tracing } : {}),
  tools: [{ name: TOOL_NAME, title: TOOL_TITLE, description: TOOL_DESCRIPTION, inputSchema: {}, handler: async () => TOOL_RESULT }],
  policy,
  logger: false,
});
await app.ready();

const modern = revision === '2026-07-28';
const headers = { ...(modern ? MCP_HEADERS_2026 : MCP_HEADERS), host: '127.0.0.1:4999' };
const payload = modern ? TOOL_CALL_BODY_2026 : TOOL_CALL_BODY;
async function one(): Promise<void> {
  const r = await app.inject({ method: 'POST', url: '/mcp', headers, payload });
  if (r.statusCode !== 200 || !r.body.includes('"ok"')) throw new Error(`unexpected answer ${r.statusCode}: ${r.body.slice(0, 200)}`);
}

// Warm-up: JIT and caches, not measured.
for (let i = 0; i < Math.min(3000, calls); i++) await one();
const cpu = process.cpuUsage();
let next = 0;
await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
  while (next++ < calls) await one();
}));
const used = process.cpuUsage(cpu);
const rssMb = Math.round(process.memoryUsage().rss / 1048576);
await app.close();
await tracing?.shutdown();
// With --tracing, what reached the collector (warm-up included): the spans were exported, not dropped.
console.log(JSON.stringify({ revision, tracing: tracingOn, calls, cpuUsPerCall: Math.round((used.user + used.system) / calls), rssMb, ...(tracingOn ? { exportedKb: Math.round(exportedBytes / 1024) } : {}) }));
sink?.close();
rmSync(dir, { recursive: true, force: true });
