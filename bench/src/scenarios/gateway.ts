import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { parse } from 'yaml';
import { measure, measureSequential, type LoadResult, type Target } from '../lib/load.ts';
import { freePort } from '../lib/ports.ts';
import { LOAD_CPU, moveToCpu, pinning, SERVER_CPU } from '../lib/machine.ts';
import { childrenOf, REPO_ROOT, startServer, type CpuSource, type ServerProcess } from '../lib/proc.ts';
import { logFile, nodeFlags, record, wanted, type BenchContext } from './context.ts';
import { startMcpServer, type AuthServer } from './servers.ts';
import { accessTokenFrom } from './targets.ts';

const require = createRequire(import.meta.url);
/** The real servers from npm, run with `node <entry>` as their packages' bins do (no npx, no tsx). */
const EVERYTHING_ENTRY = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
const MCP_PROXY_ENTRY = require.resolve('mcp-proxy/dist/bin/mcp-proxy.mjs');

/** The gateway scenarios' server on our MCP app: its path, and so its resource (audience) on c.mcpPort. */
export const GATEWAY_PATH = '/mcp/everything';
export const GATEWAY_SCENARIOS = ['g1', 'g2', 'g3', 'g4'] as const;

const PROTOCOL = '2025-11-25';
const MESSAGE = 'bench';
const HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-protocol-version': PROTOCOL };

type Upstream = { url: string } | { command: string; args: string[] };

/**
 * The shipped stack.yaml plus one server at GATEWAY_PATH whose only tool is server-everything's
 * `echo`, allowed to the bench user's role with the scope its token carries (per-tool limit far
 * above what a core serves: counted, never throttling). Written as JSON, which the loader reads
 * for a .json name. The authorization server gets it too, so that it issues tokens for the path.
 */
export function writeStackFile(path: string, upstream: Upstream): string {
  const shipped = parse(readFileSync(join(REPO_ROOT, 'stack.yaml'), 'utf8')) as { servers: unknown[] };
  const server = {
    name: 'everything',
    path: GATEWAY_PATH,
    upstream,
    tools: { echo: { roles: ['admin', 'developer', 'viewer'], scopes: ['db:read'], rate_limit_per_minute: 1_000_000 } },
    default: 'deny',
  };
  writeFileSync(path, JSON.stringify({ ...shipped, servers: [...shipped.servers, server] }, null, 2));
  return path;
}

/**
 * tools/call of echo, each request with its own JSON-RPC id (several in flight on one MCP session
 * must not share one) and, with `tokens`, the next caller's token in turn: one caller per
 * connection, as a gateway serves many users (our app admits at most 8 requests in flight per
 * identity, which one token on 10 connections would exceed once each call waits for an upstream).
 * The first answer that is not the echo is printed, so a failed row says why.
 */
function echoCalls(label: string, url: string, headers: Record<string, string>, tokens: string[] = []): Target {
  let id = 0;
  let reported = false;
  return {
    url,
    headers: { ...HEADERS, ...headers },
    next: () => {
      id++;
      const body = JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { message: MESSAGE } } });
      return tokens.length ? { body, headers: { authorization: `Bearer ${tokens[id % tokens.length]!}` } } : { body };
    },
    onResponse: (status, body) => {
      const ok = status === 200 && echoAnswered(body);
      if (!ok && !reported) {
        reported = true;
        console.log(`  ${label}: first failed answer: ${status} ${body.slice(0, 300)}`);
      }
      return ok;
    },
  };
}

/** One call before the warm-up: the front has connected its upstream (or started it) and answers the echo. */
async function firstCall(label: string, url: string, headers: Record<string, string>): Promise<void> {
  const body = JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'tools/call', params: { name: 'echo', arguments: { message: MESSAGE } } });
  const r = await fetch(url, { method: 'POST', headers: { ...HEADERS, ...headers }, body, signal: AbortSignal.timeout(30_000) });
  const text = await r.text();
  if (r.status !== 200 || !echoAnswered(text)) throw new Error(`${label}: the first echo call failed: ${r.status} ${text.slice(0, 300)}`);
}

/** The JSON-RPC messages of an answer sent as JSON or as an SSE stream (`data:` lines). */
function messages(body: string): unknown[] {
  const text = body.trimStart();
  if (text.startsWith('{')) return [JSON.parse(text)];
  return text.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).filter(Boolean).map((d) => JSON.parse(d) as unknown);
}

/** A successful tools/call result carrying the echo: anything else (JSON-RPC or tool error) fails the request. */
function echoAnswered(body: string): boolean {
  try {
    return messages(body).some((m) => {
      const r = (m as { result?: { isError?: boolean; content?: { text?: string }[] } }).result;
      return r !== undefined && r.isError !== true && r.content?.[0]?.text === `Echo: ${MESSAGE}`;
    });
  } catch {
    return false;
  }
}

/**
 * Opens an MCP session as a client does (initialize, then notifications/initialized) on a server
 * that keeps sessions; every connection of the run then uses it, as the gateway's one upstream
 * session carries all its callers.
 */
async function openSession(url: string): Promise<Record<string, string>> {
  const init = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': HEADERS['content-type'], accept: HEADERS.accept },
    body: JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: PROTOCOL, capabilities: {}, clientInfo: { name: 'bench', version: '1.0.0' } } }),
  });
  const body = await init.text();
  const sessionId = init.headers.get('mcp-session-id');
  const version = (messages(body).find((m) => (m as { result?: unknown }).result) as { result?: { protocolVersion?: string } } | undefined)?.result?.protocolVersion;
  if (init.status !== 200 || !sessionId || version !== PROTOCOL) throw new Error(`initialize at ${url} failed: ${init.status} ${body.slice(0, 300)}`);
  const session = { 'mcp-session-id': sessionId };
  const ack = await fetch(url, { method: 'POST', headers: { ...HEADERS, ...session }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await ack.arrayBuffer();
  if (ack.status !== 202) throw new Error(`notifications/initialized at ${url}: ${ack.status}`);
  return session;
}

/** Ends a session (DELETE), so that the next scenario's upstream does not carry its state. */
async function closeSession(url: string, session: Record<string, string>): Promise<void> {
  const r = await fetch(url, { method: 'DELETE', headers: { ...HEADERS, ...session } });
  await r.arrayBuffer();
}

/** server-everything on Streamable HTTP on 127.0.0.1 (servers/everything-http.mjs), pinned like every server. */
async function startEverythingHttp(c: BenchContext): Promise<{ proc: ServerProcess; url: string }> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/mcp`;
  const proc = await startServer({
    name: 'everything-http',
    command: [join(REPO_ROOT, 'bench/src/servers/everything-http.mjs')],
    env: { PORT: String(port) },
    // It has no health route: a GET without a session is answered 400 once it listens.
    readyUrl: url,
    readyOnAnyAnswer: true,
    logFile: logFile(c, 'everything-http'),
    nodeFlags: nodeFlags(c, 'everything-http'),
  });
  return { proc, url };
}

/** mcp-proxy's stdio-to-Streamable-HTTP bridge in front of server-everything on stdio, its defaults otherwise. */
async function startMcpProxy(c: BenchContext): Promise<{ proc: ServerProcess; url: string }> {
  const port = await freePort();
  const proc = await startServer({
    name: 'mcp-proxy',
    command: [MCP_PROXY_ENTRY, '--host', '127.0.0.1', '--port', String(port), '--server', 'stream', '--', process.execPath, EVERYTHING_ENTRY, 'stdio'],
    env: {},
    readyUrl: `http://127.0.0.1:${port}/ping`,
    logFile: logFile(c, 'mcp-proxy'),
    nodeFlags: nodeFlags(c, 'mcp-proxy'),
  });
  return { proc, url: `http://127.0.0.1:${port}/mcp` };
}

/** The same process under the name its CPU share is reported with. */
const renamed = (p: CpuSource, name: string): CpuSource => ({ name, cpuMicros: () => p.cpuMicros() });

/**
 * Scenarios g1–g4: server-everything's echo tool directly (the floor), through our gateway with a
 * bearer token (url and stdio upstreams), and behind mcp-proxy. Every process of a scenario runs
 * on the server CPU (except server-everything in g1-split and g2-split, on the load generator's),
 * and its CPU per request counts them all (see bench/README.md).
 */
export async function gatewayScenarios(c: BenchContext, as: AuthServer): Promise<void> {
  if (!GATEWAY_SCENARIOS.some((k) => wanted(c, k))) return;
  const resource = c.gatewayResource;
  const tokens = wanted(c, 'g2') || wanted(c, 'g3')
    ? await Promise.all((as.seeded.codesFor.get(resource) ?? []).map((code) => accessTokenFrom(as.url, code, resource)))
    : [];
  const running: ServerProcess[] = [];
  const started = <T extends ServerProcess | { proc: ServerProcess }>(s: T): T => {
    running.push('proc' in s ? s.proc : s);
    return s;
  };
  const stopAll = async () => {
    for (const p of running.splice(0).reverse()) await p.stop();
  };
  const shares = (result: LoadResult) =>
    result.cpuParts ? { extra: `server CPU ${result.cpuParts.map((p) => `${p.name} ${Number.isFinite(p.cpuPerReq) ? Math.round(p.cpuPerReq) : '–'}`).join(' + ')} µs/req` } : {};
  /**
   * Checks the front answers, then measures it; `cpu` lists every process the scenario runs.
   * With `sequential`, also one caller making one call at a time (row `<key>-1c`): the latency
   * the front adds, without the queueing for the shared CPU that 10 connections bring.
   */
  const run = async (key: string, scenario: string, url: string, headers: Record<string, string>, cpu: CpuSource[], withTokens: boolean, sequential = false) => {
    await firstCall(key, url, withTokens ? { authorization: `Bearer ${tokens[0]!}` } : headers);
    const result = await measure(echoCalls(key, url, headers, withTokens ? tokens : []), c.load, cpu);
    record(c, { key, scenario, result, ...shares(result) });
    if (sequential) {
      const one = await measureSequential(echoCalls(`${key}-1c`, url, headers, withTokens ? tokens.slice(0, 1) : []), c.load, cpu);
      record(c, { key: `${key}-1c`, scenario: `${key} at 1 connection, one call at a time`, result: one, ...shares(one) });
    }
  };
  try {
    if (wanted(c, 'g1') || wanted(c, 'g2')) {
      const { proc: everything, url } = started(await startEverythingHttp(c));
      if (wanted(c, 'g1')) {
        const session = await openSession(url);
        await run('g1', 'server-everything echo, Streamable HTTP direct, no auth (the floor)', url, session, [everything], false, true);
        await closeSession(url, session);
        if (pinning) {
          // (g2-split)'s partner: server-everything beside the load generator on CPU 0 exactly as
          // there, so that the two differ only by the gateway in the path, on its own core.
          moveToCpu(everything.pid, LOAD_CPU);
          try {
            const split = await openSession(url);
            await run('g1-split', 'as (g1) with server-everything moved to CPU 0 (beside the load generator), as in (g2-split)', url, split, [everything], false);
            await closeSession(url, split);
          } finally {
            moveToCpu(everything.pid, SERVER_CPU);
          }
        }
      }
      if (wanted(c, 'g2')) {
        const stackFile = writeStackFile(join(c.work, 'stack-gateway-http.json'), { url });
        const gateway = started(await startMcpServer(c, 'oauth', as.url, { name: 'gateway-http', stackFile }));
        await run('g2', 'as (g1) through our gateway (url upstream), bearer JWT, full pipeline', resource, {}, [renamed(gateway, 'gateway'), everything], true, true);
        if (pinning) {
          // The layout of a deployment, where the gateway does not take CPU from the server behind
          // it: server-everything moves next to the load generator (CPU 0) as in (g1-split), the
          // gateway keeps CPU 1 to itself. (g2-split)/(g1-split) is the throughput target.
          moveToCpu(everything.pid, LOAD_CPU);
          try {
            await run('g2-split', 'as (g2) with server-everything moved to CPU 0 (beside the load generator), the gateway alone on CPU 1', resource, {}, [renamed(gateway, 'gateway'), everything], true);
          } finally {
            moveToCpu(everything.pid, SERVER_CPU);
          }
        }
      }
      await stopAll();
    }
    if (wanted(c, 'g3')) {
      const stackFile = writeStackFile(join(c.work, 'stack-gateway-stdio.json'), { command: process.execPath, args: [EVERYTHING_ENTRY, 'stdio'] });
      const gateway = started(await startMcpServer(c, 'oauth', as.url, { name: 'gateway-stdio', stackFile }));
      await run('g3', 'server-everything on stdio through our gateway, bearer JWT, full pipeline', resource, {}, [renamed(gateway, 'gateway'), childrenOf(gateway, 'server-everything')], true);
      await stopAll();
    }
    if (wanted(c, 'g4')) {
      const { proc: proxy, url } = started(await startMcpProxy(c));
      const session = await openSession(url);
      await run('g4', 'server-everything on stdio behind mcp-proxy 6.7 (Streamable HTTP), no auth', url, session, [renamed(proxy, 'mcp-proxy'), childrenOf(proxy, 'server-everything')], false);
      await closeSession(url, session);
    }
  } finally {
    await stopAll();
  }
}
