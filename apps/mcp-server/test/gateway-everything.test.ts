import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { run as secretsCli } from '../src/cli/secrets.ts';
import type { GatewayEndpoint } from '../src/gateway/upstream-endpoint.ts';
import { bearer, callTool, listTools, rpc, startMcpServer, useIssuer, type TestMcpServer } from './helpers.ts';
import { alive, EVERYTHING_ENTRY, FILESYSTEM_ENTRY, fixture, runNode, until, type Lines } from './upstream-helpers.ts';

const SECRET = `everything-${randomBytes(12).toString('hex')}`;
const toolText = (body: { result?: { content?: { text?: string }[] } }) => body.result?.content?.[0]?.text ?? '';
/** A call's own time limit: an error well before it shows the fault was noticed, not waited out. */
const TIMEOUT_SECONDS = 60;
const PROMPTLY_MS = 20_000;

/** The pids of this process's children whose command line holds every one of `parts` (Linux /proc). */
function childPids(...parts: string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of stat is the parent pid; the command (field 2) may hold spaces, so read after its ')'.
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (parts.every((p) => cmdline.includes(p))) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** server-everything over Streamable HTTP (fixtures/everything-http.mjs) on 127.0.0.1; `port` 0 picks one. */
async function startEverythingHttp(port = 0): Promise<{ proc: Lines; port: number }> {
  const proc = runNode([fixture('everything-http.mjs'), String(port)], 'stderr');
  const listening = Number((await proc.waitFor(/^LISTENING \d+$/)).split(' ')[1]);
  return { proc, port: listening };
}

/**
 * The gateway in front of the real server-everything from npm, once over Streamable HTTP and once
 * as a stdio child, next to the real filesystem server: per-server audiences, the stack file's
 * rules, the upstream credential from the secret store, and upstreams that die mid-call.
 */
describe('gateway: server-everything over Streamable HTTP and stdio', () => {
  const issuer = useIssuer();
  let dir: string;
  let shared: string;
  let everything: { proc: Lines; port: number };
  let s: TestMcpServer;
  let origin: string;
  const log: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'mcp-gateway-everything-'));
    shared = join(dir, 'shared');
    mkdirSync(shared);
    writeFileSync(join(shared, 'hello.txt'), 'hello from the shared folder');
    const key = randomBytes(32);
    const dbPath = join(dir, 'control.db');
    // The upstream credential goes in as an operator would put it: the admin CLI, value on stdin.
    let out = '';
    const code = await secretsCli(['set', 'EVERYTHING_TOKEN'], {
      stdin: Readable.from([Buffer.from(`${SECRET}\n`)]),
      stdout: { write: (t: string) => (out += t) },
      stderr: { write: (t: string) => (out += t) },
      env: { DATA_DIR: dir, MCP_DATABASE_PATH: dbPath, KEY_ENCRYPTION_KEY: key.toString('base64'), NODE_ENV: 'test' },
    });
    expect({ code, out }).toEqual({ code: 0, out: 'secret EVERYTHING_TOKEN stored\n' });
    everything = await startEverythingHttp();
    const everythingRules = `
    tools:
      echo: { roles: [admin, developer, viewer], scopes: ["demo:use"] }
      get-sum: { roles: [admin, developer], scopes: ["demo:use", "demo:compute"] }
      trigger-long-running-operation: { roles: [admin, developer], scopes: ["demo:use"] }
    default: deny`;
    writeFileSync(join(dir, 'stack.yaml'), `
roles: [admin, developer, viewer]
scopes:
  "db:read": { description: "Read data", roles: [admin, developer, viewer] }
  "files:read": { description: "Read files", roles: [admin, developer, viewer] }
  "demo:use": { description: "Demo tools", roles: [admin, developer, viewer] }
  "demo:compute": { description: "Demo computations", roles: [admin, developer] }
servers:
  - name: database
    path: /mcp
    upstream: { builtin: database }
    default: { roles: [admin, developer, viewer], scopes: ["db:read"] }
  - name: files
    path: /mcp/files
    upstream: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FILESYSTEM_ENTRY)}, ${JSON.stringify(shared)}] }
    tools:
      read_text_file: { roles: [admin, developer, viewer], scopes: ["files:read"] }
    default: deny
  - name: everything-http
    path: /mcp/everything-http
    timeout_seconds: ${TIMEOUT_SECONDS}
    upstream: { url: "http://127.0.0.1:${everything.port}/mcp", headers: { Authorization: "Bearer \${secret:EVERYTHING_TOKEN}" } }${everythingRules}
  - name: everything-stdio
    path: /mcp/everything-stdio
    timeout_seconds: ${TIMEOUT_SECONDS}
    upstream: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(EVERYTHING_ENTRY)}, stdio] }${everythingRules}
`);
    // Everything the app logs, at the most verbose level, to look for the credential in it.
    const stream = new Writable({ write(chunk: Buffer, _enc, done) { log.push(chunk.toString('utf8')); done(); } });
    s = await startMcpServer(
      { AUTH_ISSUER: issuer.url, STACK_FILE: join(dir, 'stack.yaml'), MCP_DATABASE_PATH: dbPath, KEY_ENCRYPTION_KEY: key.toString('base64') },
      { policy: undefined, logger: { level: 'trace', stream } },
    );
    origin = new URL(s.url).origin;
  });
  afterAll(async () => {
    await s?.close();
    await everything?.proc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const token = async (path: string, role: string, scope: string) => bearer(await issuer.sign({ aud: `${origin}${path}`, sub: `${role}-user`, role, scope }));
  const post = async (path: string, body: unknown, who: Record<string, string>) => {
    const r = await rpc(`${origin}${path}`, body, who);
    return { status: r.status, headers: r.headers, body: await r.json() as { id?: unknown; result?: Record<string, unknown> & { content?: { text?: string }[] }; error?: { code: number } } };
  };
  const upstreamOf = (name: string) => (s.app.mcp.endpoints.find((e) => e.name === name) as GatewayEndpoint).upstream;
  const SERVERS = ['/mcp/everything-http', '/mcp/everything-stdio'] as const;
  const serverName = (path: string) => path.slice('/mcp/'.length);

  it('[GW-PER-SERVER-RESOURCE] a token for the files server is refused by both everything servers, and theirs by the files server and each other', async () => {
    const forFiles = await token('/mcp/files', 'admin', 'files:read demo:use demo:compute');
    expect((await rpc(`${origin}/mcp/files`, listTools(), forFiles)).status).toBe(200);
    const paths = ['/mcp/files', ...SERVERS];
    for (const own of paths) {
      const mine = await token(own, 'admin', 'files:read demo:use demo:compute');
      expect((await rpc(`${origin}${own}`, listTools(), mine)).status, own).toBe(200);
      for (const other of paths.filter((p) => p !== own)) {
        const r = await rpc(`${origin}${other}`, listTools(), mine);
        expect(r.status, `${own} -> ${other}`).toBe(401);
        expect(r.headers.get('www-authenticate'), `${own} -> ${other}`).toContain('error="invalid_token"');
        expect(r.headers.get('www-authenticate'), `${own} -> ${other}`).toContain(`resource_metadata="${origin}/.well-known/oauth-protected-resource${other}"`);
      }
    }
  });

  it.each(SERVERS)('[GW-TOOL-RULES] %s: tools/list differs by role, allowed calls return the upstream\'s content, default deny', async (path) => {
    const name = serverName(path);
    const viewer = await token(path, 'viewer', 'demo:use');
    const developer = await token(path, 'developer', 'demo:use demo:compute');
    const names = async (who: Record<string, string>) => ((await post(path, listTools(), who)).body.result!.tools as { name: string }[]).map((t) => t.name).sort();
    expect(await names(viewer)).toEqual(['echo']);
    expect(await names(developer)).toEqual(['echo', 'get-sum', 'trigger-long-running-operation']);

    const echo = await post(path, callTool('echo', { message: `through ${name}` }), viewer);
    expect(toolText(echo.body)).toBe(`Echo: through ${name}`);
    const sum = await post(path, callTool('get-sum', { a: 2, b: 40 }), developer);
    expect(toolText(sum.body)).toBe('The sum of 2 and 40 is 42.');
    // A viewer's role may never call get-sum: a tool error, no step-up.
    const byRole = await post(path, callTool('get-sum', { a: 1, b: 1 }), viewer);
    expect(byRole.status).toBe(200);
    expect(byRole.body.result?.isError).toBe(true);
    expect(toolText(byRole.body)).toMatch(/^ACCESS DENIED\nTool: get-sum/);
    // get-env exists upstream, but the file does not name it and the default is deny.
    const unnamed = await post(path, callTool('get-env'), developer);
    expect(unnamed.body.error).toMatchObject({ code: -32602 });

    const lines = s.audit().filter((l) => l.server === name && l.tool);
    expect(lines.map((l) => [l.decision, l.tool, l.identity])).toEqual([
      ['ALLOWED', 'echo', 'viewer-user'], ['ALLOWED', 'get-sum', 'developer-user'], ['DENIED', 'get-sum', 'viewer-user'], ['DENIED', 'get-env', 'developer-user'],
    ]);
  });

  it.each(SERVERS)('[GW-TOOL-RULES] %s: a developer without a scope the tool needs gets the step-up 403 naming that server\'s scopes', async (path) => {
    const developer = await token(path, 'developer', 'demo:use');
    const r = await post(path, callTool('get-sum', { a: 1, b: 2 }), developer);
    expect(r.status).toBe(403);
    const challenge = r.headers.get('www-authenticate') ?? '';
    expect(challenge).toContain('error="insufficient_scope"');
    expect(challenge).toContain('scope="demo:use demo:compute"');
    expect(challenge).toContain(`resource_metadata="${origin}/.well-known/oauth-protected-resource${path}"`);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'DENIED', server: serverName(path), tool: 'get-sum' });
  });

  it('[GW-UPSTREAM-NO-PASSTHROUGH] the credential set with `secrets set` reaches the HTTP upstream, never the caller\'s token, and appears in no log or audit line', async () => {
    const dev = await token('/mcp/everything-http', 'developer', 'demo:use');
    const before = everything.proc.lines.length;
    expect(toolText((await post('/mcp/everything-http', callTool('echo', { message: 'credentials' }), dev)).body)).toBe('Echo: credentials');
    const auth = everything.proc.lines.filter((l) => l.startsWith('AUTH '));
    expect(auth.length).toBeGreaterThan(0);
    expect(new Set(auth)).toEqual(new Set([`AUTH Bearer ${SECRET}`]));
    expect(everything.proc.lines.slice(before).join('\n')).not.toContain(dev.authorization.slice('Bearer '.length));
    // The app did log (requests at least), and nowhere the credential.
    expect(log.length).toBeGreaterThan(0);
    expect(log.join('')).not.toContain(SECRET);
    expect(readFileSync(s.auditFile, 'utf8')).not.toContain(SECRET);
    expect(JSON.stringify(s.audit())).not.toContain(SECRET);
  });
  it('[GW-UPSTREAM-KILLED] [GW-UPSTREAM-RESTART] the stdio child killed mid-call: the caller gets an error with its id at once, audited ERROR; the child is restarted and serves; other servers serve meanwhile', async () => {
    const path = '/mcp/everything-stdio';
    const dev = await token(path, 'developer', 'demo:use');
    const otherDev = await token('/mcp/everything-http', 'developer', 'demo:use');
    const files = await token('/mcp/files', 'viewer', 'files:read');
    expect(toolText((await post(path, callTool('echo', { message: 'before' }), dev)).body)).toBe('Echo: before');
    const children = childPids(EVERYTHING_ENTRY, 'stdio');
    expect(children).toHaveLength(1);
    const pid = children[0]!;
    const restarts = upstreamOf('everything-stdio').health().restarts ?? 0;

    const call = callTool('trigger-long-running-operation', { duration: TIMEOUT_SECONDS - 5, steps: 1 });
    const started = Date.now();
    const pending = post(path, call, dev);
    await until(() => s.audit().some((l) => l.server === 'everything-stdio' && l.tool === 'trigger-long-running-operation' && l.decision === 'ALLOWED'));
    process.kill(pid, 'SIGKILL');
    const r = await pending;
    expect(Date.now() - started).toBeLessThan(PROMPTLY_MS);
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(call.id);
    expect(r.body.result?.isError).toBe(true);
    expect(toolText(r.body)).toMatch(/^The everything-stdio server did not answer the call: upstream everything-stdio exited on SIGKILL\b/);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ERROR', server: 'everything-stdio', tool: 'trigger-long-running-operation' });
    expect(alive(pid)).toBe(false);

    // While the child is down (its restart waits out a backoff) the other servers serve.
    expect(toolText((await post('/mcp/everything-http', callTool('echo', { message: 'meanwhile' }), otherDev)).body)).toBe('Echo: meanwhile');
    expect(toolText((await post('/mcp/files', callTool('read_text_file', { path: join(shared, 'hello.txt') }), files)).body)).toBe('hello from the shared folder');

    expect(toolText((await post(path, callTool('echo', { message: 'after' }), dev)).body)).toBe('Echo: after');
    expect(upstreamOf('everything-stdio').health()).toMatchObject({ state: 'up', restarts: restarts + 1 });
    const next = childPids(EVERYTHING_ENTRY, 'stdio');
    expect(next).toHaveLength(1);
    expect(next[0]).not.toBe(pid);
  });

  it('[GW-UPSTREAM-KILLED] the HTTP upstream killed mid-call: the caller gets an error with its id at once; other servers serve; restarted on its port, the gateway opens a new session', async () => {
    const path = '/mcp/everything-http';
    const dev = await token(path, 'developer', 'demo:use');
    const stdioDev = await token('/mcp/everything-stdio', 'developer', 'demo:use');
    expect(toolText((await post(path, callTool('echo', { message: 'before' }), dev)).body)).toBe('Echo: before');

    const call = callTool('trigger-long-running-operation', { duration: TIMEOUT_SECONDS - 5, steps: 1 });
    const requests = () => everything.proc.lines.filter((l) => l.startsWith('AUTH ')).length;
    const before = requests();
    const started = Date.now();
    const pending = post(path, call, dev);
    // The call has reached the upstream (it logs every request) when it dies.
    await until(() => requests() > before);
    await everything.proc.stop();
    const r = await pending;
    expect(Date.now() - started).toBeLessThan(PROMPTLY_MS);
    expect(r.status).toBe(200);
    expect(r.body.id).toBe(call.id);
    expect(r.body.result?.isError).toBe(true);
    expect(toolText(r.body)).toMatch(/^The everything-http server did not answer the call: upstream everything-http /);
    expect(s.audit().at(-1)).toMatchObject({ decision: 'ERROR', server: 'everything-http', tool: 'trigger-long-running-operation' });

    // Down: a call is an error at once, and the other servers serve.
    const down = await post(path, callTool('echo', { message: 'down' }), dev);
    expect(down.body.result?.isError).toBe(true);
    expect(toolText(down.body)).toMatch(/^The everything-http server did not answer the call: /);
    expect(toolText((await post('/mcp/everything-stdio', callTool('echo', { message: 'meanwhile' }), stdioDev)).body)).toBe('Echo: meanwhile');

    // Back on the same port (a new process: it knows no session), and the gateway recovers by itself.
    everything = await startEverythingHttp(everything.port);
    expect(toolText((await post(path, callTool('echo', { message: 'recovered' }), dev)).body)).toBe('Echo: recovered');
    expect(upstreamOf('everything-http').health().state).toBe('up');
    expect(new Set(everything.proc.lines.filter((l) => l.startsWith('AUTH ')))).toEqual(new Set([`AUTH Bearer ${SECRET}`]));

    // Restarted while idle: the gateway's session id is unknown to the new process (which answers
    // 400 for it), so the call is sent again on a new session.
    await everything.proc.stop();
    everything = await startEverythingHttp(everything.port);
    expect(toolText((await post(path, callTool('echo', { message: 'restarted while idle' }), dev)).body)).toBe('Echo: restarted while idle');
    // The call made while it was down ended in ERROR; the two after the restarts did not.
    const lines = s.audit().filter((l) => l.server === 'everything-http' && l.tool === 'echo');
    expect(lines.slice(-4).map((l) => l.decision)).toEqual(['ALLOWED', 'ERROR', 'ALLOWED', 'ALLOWED']);
  });
});
