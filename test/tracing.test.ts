// OpenTelemetry traces from both apps run as real processes (main.ts starts the SDK), exported to
// an OTLP/HTTP receiver in this test (JSON protocol), through a real flow: a client_credentials
// token from the authorization server, then an MCP tools/call with it.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { admin, freePort, startApp, testKek, waitReady, type AppProcess } from './deploy/app-process.ts';

// Each app takes seconds to start on a loaded 2-core machine (first signing key, migrations).
const TIMEOUT = 240_000;
const READY_MS = 120_000;

interface OtlpValue { stringValue?: string; intValue?: string | number; boolValue?: boolean }
interface OtlpSpan { traceId: string; spanId: string; parentSpanId?: string; name: string; attributes?: { key: string; value: OtlpValue }[] }
interface Received { service: string; span: OtlpSpan }

/** An OTLP/HTTP receiver (JSON encoding): every span of every POST /v1/traces, with its service name. */
async function otlpReceiver(): Promise<{ url: string; spans: Received[]; posts: () => number; close(): Promise<void> }> {
  const spans: Received[] = [];
  let posts = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      posts++;
      const body = JSON.parse(Buffer.concat(chunks).toString()) as { resourceSpans?: { resource?: { attributes?: OtlpSpan['attributes'] }; scopeSpans?: { spans?: OtlpSpan[] }[] }[] };
      for (const rs of body.resourceSpans ?? []) {
        const service = rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value.stringValue ?? '';
        for (const ss of rs.scopeSpans ?? []) for (const span of ss.spans ?? []) spans.push({ service, span });
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}`, spans, posts: () => posts, close: () => new Promise((r) => server.close(() => r())) };
}

const attr = (s: OtlpSpan, key: string) => {
  const v = s.attributes?.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.intValue ?? v?.boolValue;
};

/** Waits (bounded) until `pick` finds what it needs among the spans received. */
async function waitFor<T>(pick: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = pick();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The audit file's event lines (chain headers skipped), parsed. */
const auditLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => typeof l.event === 'string');

interface Stack { auth: AppProcess; mcp: AppProcess; authDir: string; mcpDir: string; kek: string; mcpUrl: string; clientId: string; secret: string }

const dirs: string[] = [];
const running: AppProcess[] = [];
afterAll(() => {
  for (const a of running) a.kill();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Both apps as processes with `otel` added to their environment, and a machine client (viewer, db:read). */
async function startStack(otel: Record<string, string>): Promise<Stack> {
  const [authPort, mcpPort] = [await freePort(), await freePort()];
  const authDir = mkdtempSync(join(tmpdir(), 'otel-auth-'));
  const mcpDir = mkdtempSync(join(tmpdir(), 'otel-mcp-'));
  dirs.push(authDir, mcpDir);
  const kek = testKek();
  const authBase = `http://127.0.0.1:${authPort}`;
  const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
  const authEnv = { DATA_DIR: authDir, KEY_ENCRYPTION_KEY: kek, AUTH_HOST: '127.0.0.1', AUTH_PORT: String(authPort), AUTH_ISSUER: authBase, MCP_PUBLIC_ORIGIN: `http://127.0.0.1:${mcpPort}` };
  const created = await admin(['clients', 'add', '--name', 'otel job', '--grant-types', 'client_credentials', '--role', 'viewer', '--scope', 'db:read', '--json'], authEnv);
  expect(created.code, created.stderr).toBe(0);
  const client = JSON.parse(created.stdout) as { client_id: string; client_secret: string };
  const auth = startApp('apps/auth-server/src/main.ts', authPort, { ...authEnv, ...otel });
  const mcp = startApp('apps/mcp-server/src/main.ts', mcpPort, {
    DATA_DIR: mcpDir, KEY_ENCRYPTION_KEY: kek, MCP_HOST: '127.0.0.1', MCP_PORT: String(mcpPort), MCP_PUBLIC_URL: mcpUrl, AUTH_ISSUER: authBase, ...otel,
  });
  running.push(auth, mcp);
  await Promise.all([waitReady(auth, READY_MS), waitReady(mcp, READY_MS)]);
  return { auth, mcp, authDir, mcpDir, kek, mcpUrl, clientId: client.client_id, secret: client.client_secret };
}

// A trace context the caller sends with its call: not continued, the request starts its own trace.
const CALLER_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CALLER_TRACEPARENT = `00-${CALLER_TRACE}-00f067aa0ba902b7-01`;

/** A client_credentials token for the MCP server, then one tools/call with it (sending a traceparent of its own). */
async function tokenAndCall(s: Stack): Promise<void> {
  const token = await fetch(`${s.auth.base}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(s.clientId)}:${encodeURIComponent(s.secret)}`).toString('base64')}` },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'db:read', resource: s.mcpUrl }),
  });
  expect(token.status, await token.clone().text()).toBe(200);
  const { access_token: accessToken } = await token.json() as { access_token: string };
  const call = await fetch(s.mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${accessToken}`, traceparent: CALLER_TRACEPARENT },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'query', arguments: { sql: 'SELECT count(*) AS n FROM users' } } }),
  });
  expect(call.status).toBe(200);
  const body = await call.json() as { result?: { isError?: boolean } };
  expect(body.result?.isError ?? false).toBe(false);
}

/** Stops an app with SIGTERM and waits for its exit: the SDK flushes on close. */
async function stop(app: AppProcess): Promise<void> {
  app.child.kill('SIGTERM');
  expect(await app.exited).toMatchObject({ code: 0 });
}

describe('OpenTelemetry traces (OTLP endpoint set)', () => {
  let receiver: Awaited<ReturnType<typeof otlpReceiver>>;
  let stack: Stack;
  beforeAll(async () => {
    receiver = await otlpReceiver();
    stack = await startStack({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '50' });
    await tokenAndCall(stack);
    // Both apps closed: everything they buffered is exported by now, and the audit logs are closed.
    await Promise.all([stop(stack.auth), stop(stack.mcp)]);
  }, TIMEOUT);
  afterAll(async () => { await receiver?.close(); });

  const mcpSpans = () => receiver.spans.filter((r) => r.service === 'mcp-oauth-mcp-server').map((r) => r.span);
  const authSpans = () => receiver.spans.filter((r) => r.service === 'mcp-oauth-auth-server').map((r) => r.span);

  it('[OTEL-1] [OTEL-5] a tools/call is one trace of its own (the caller\'s traceparent not continued): request span, then authenticate, policy (rate limit inside) and tool spans', async () => {
    const tool = await waitFor(() => mcpSpans().find((s) => s.name === 'mcp.tool'), 'mcp.tool span');
    expect(attr(tool, 'mcp.tool.name')).toBe('query');
    const trace = mcpSpans().filter((s) => s.traceId === tool.traceId);
    const byId = new Map(trace.map((s) => [s.spanId, s]));
    const named = (name: string) => {
      const found = trace.filter((s) => s.name === name);
      expect(found, name).toHaveLength(1);
      return found[0]!;
    };
    const root = trace.filter((s) => !s.parentSpanId || !byId.has(s.parentSpanId));
    expect(root.map((s) => s.name)).toEqual(['request']);
    expect(root[0]!.parentSpanId ?? '').toBe('');
    expect(tool.traceId).not.toBe(CALLER_TRACE);
    expect(JSON.stringify(receiver.spans)).not.toContain(CALLER_TRACE);
    expect(attr(root[0]!, 'http.route')).toBe('/mcp');
    const ancestors = (s: OtlpSpan) => {
      const names: string[] = [];
      for (let p = byId.get(s.parentSpanId ?? ''); p; p = byId.get(p.parentSpanId ?? '')) names.push(p.name);
      return names;
    };
    const authenticate = named('mcp.authenticate');
    expect(authenticate.parentSpanId).toBe(root[0]!.spanId);
    expect(attr(authenticate, 'mcp.auth.presented')).toBe('bearer');
    expect(attr(authenticate, 'mcp.auth.kind')).toBe('client');
    const policy = named('mcp.policy');
    expect(ancestors(policy).at(-1)).toBe('request');
    expect(attr(policy, 'mcp.decision')).toBe('ALLOWED');
    expect(attr(policy, 'rpc.method')).toBe('tools/call');
    expect(named('mcp.rate_limit').parentSpanId).toBe(policy.spanId);
    expect(ancestors(tool).at(-1)).toBe('request');
  });

  it('[OTEL-2] the audit line of the call carries its trace id, and both audit chains verify', async () => {
    const tool = await waitFor(() => mcpSpans().find((s) => s.name === 'mcp.tool'), 'mcp.tool span');
    const allowed = auditLines(join(stack.mcpDir, 'mcp-audit.log')).filter((l) => l.event === 'mcp.decision' && l.decision === 'ALLOWED');
    expect(allowed).toHaveLength(1);
    expect(allowed[0]).toMatchObject({ tool: 'query', trace_id: tool.traceId });
    const grant = await waitFor(() => authSpans().find((s) => s.name === 'auth.grant'), 'auth.grant span');
    expect(auditLines(join(stack.authDir, 'auth-audit.log')).find((l) => l.event === 'token.issued')).toMatchObject({ trace_id: grant.traceId });
    for (const [dir, file] of [[stack.mcpDir, 'mcp-audit.log'], [stack.authDir, 'auth-audit.log']] as const) {
      const verified = await admin(['audit', 'verify', join(dir, file)], { DATA_DIR: dir, KEY_ENCRYPTION_KEY: stack.kek });
      expect(verified.code, `${file}: ${verified.stdout}${verified.stderr}`).toBe(0);
    }
  });

  it('[OTEL-3] the token request is one trace with client authentication and the grant; no secret, token or query string in any attribute', async () => {
    const grant = await waitFor(() => authSpans().find((s) => s.name === 'auth.grant'), 'auth.grant span');
    expect(attr(grant, 'oauth.grant_type')).toBe('client_credentials');
    const trace = authSpans().filter((s) => s.traceId === grant.traceId);
    const clientAuth = trace.find((s) => s.name === 'auth.client_authentication');
    expect(clientAuth && attr(clientAuth, 'oauth.client_auth_method')).toBe('client_secret_basic');
    expect(trace.find((s) => s.name === 'request' && attr(s, 'http.route') === '/token')).toBeDefined();
    const everything = JSON.stringify(receiver.spans);
    expect(everything).not.toContain(stack.secret);
    expect(everything).not.toContain(encodeURIComponent(stack.secret));
    expect(everything).not.toMatch(/eyJ[\w-]+\.eyJ/); // no JWT
    expect(everything).not.toContain('SELECT count'); // no tool argument
    for (const r of receiver.spans) {
      const path = attr(r.span, 'url.path');
      if (typeof path === 'string') expect(path).not.toContain('?');
    }
  });
});

describe('OpenTelemetry off (no OTLP endpoint)', () => {
  it('[OTEL-4] with no OTEL_* variable set, exports nothing and writes no trace_id', async () => {
    // Nothing to export to: a started SDK would still put trace ids in the audit lines.
    const stack = await startStack({});
    await tokenAndCall(stack);
    await Promise.all([stop(stack.auth), stop(stack.mcp)]);
    const lines = [...auditLines(join(stack.mcpDir, 'mcp-audit.log')), ...auditLines(join(stack.authDir, 'auth-audit.log'))];
    expect(lines.some((l) => l.event === 'mcp.decision' && l.decision === 'ALLOWED')).toBe(true);
    expect(lines.some((l) => l.event === 'token.issued')).toBe(true);
    expect(lines.filter((l) => 'trace_id' in l)).toEqual([]);
  }, TIMEOUT);
});
