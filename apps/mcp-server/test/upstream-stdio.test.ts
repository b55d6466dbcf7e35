import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStdioUpstream, type StdioUpstreamOptions } from '../src/upstream/stdio-upstream.ts';
import type { Upstream } from '../src/upstream/types.ts';
import { alive, EVERYTHING_ENTRY, FILESYSTEM_ENTRY, fixture, text, until } from './upstream-helpers.ts';

const FIXTURE = fixture('stdio-mcp.mjs');
const call = (u: Upstream, name: string, args: Record<string, unknown> = {}, identityKey?: string) =>
  u.request('tools/call', { name, arguments: args }, { identityKey });

// Every upstream a test makes is closed after it, so no child outlives the file.
const opened: Upstream[] = [];
function stdio(opts: Partial<StdioUpstreamOptions> = {}): Upstream {
  const u = createStdioUpstream({ name: 'fixture', command: process.execPath, args: [FIXTURE], restartBackoff: { initialMs: 100, maxMs: 1_000 }, killGraceMs: 500, ...opts });
  opened.push(u);
  return u;
}
afterEach(async () => {
  await Promise.all(opened.splice(0).map((u) => u.close()));
});

describe('[GW-UPSTREAM-STDIO] stdio upstreams from npm', () => {
  let dir: string;
  beforeAll(() => {
    dir = realpathSync(mkdtempSync(join(tmpdir(), 'gw-fs-')));
    writeFileSync(join(dir, 'hello.txt'), 'hello from the allowed directory\n');
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('server-filesystem on a temp dir: lists tools, reads and writes inside it, and its own refusal of a path outside passes through as a tool error', async () => {
    const fs = stdio({ name: 'filesystem', command: process.execPath, args: [FILESYSTEM_ENTRY, dir] });
    expect(fs.health().state).toBe('starting');
    const tools = (await fs.listTools()).map((t) => t.name);
    expect(tools).toEqual(expect.arrayContaining(['read_text_file', 'write_file', 'list_directory']));
    expect(fs.health().state).toBe('up');

    expect(text(await call(fs, 'read_text_file', { path: join(dir, 'hello.txt') }))).toBe('hello from the allowed directory\n');
    const wrote = await call(fs, 'write_file', { path: join(dir, 'new.txt'), content: 'written through the gateway' });
    expect('result' in wrote && (wrote.result as { isError?: boolean }).isError).toBeFalsy();
    expect(readFileSync(join(dir, 'new.txt'), 'utf8')).toBe('written through the gateway');

    const outside = await call(fs, 'read_text_file', { path: '/etc/hostname' });
    expect('result' in outside).toBe(true);
    expect((outside as { result: { isError?: boolean } }).result.isError).toBe(true);
    expect(text(outside)).toMatch(/Access denied - path outside allowed directories/);
  });

  it('server-everything over stdio: tools/list and an echo round trip; the child sees PATH, HOME and the configured env only', async () => {
    const ev = stdio({ name: 'everything', command: process.execPath, args: [EVERYTHING_ENTRY, 'stdio'], env: { GREETING: 'configured' } });
    const tools = (await ev.listTools()).map((t) => t.name);
    expect(tools).toEqual(expect.arrayContaining(['echo', 'get-sum']));
    expect(text(await call(ev, 'echo', { message: 'round trip' }))).toBe('Echo: round trip');
    const env = JSON.parse(text(await call(ev, 'get-env'))) as Record<string, string>;
    expect(env.GREETING).toBe('configured');
    // Node adds nothing of ours; whatever the test process holds (keys, tokens) stays here.
    for (const k of Object.keys(process.env)) if (!['PATH', 'HOME'].includes(k)) expect(env).not.toHaveProperty(k);
    // Lists are cached: a second call asks nothing (same array object).
    expect(await ev.listTools()).toBe(await ev.listTools());
  });

  it('speaks 2025-11-25; an unknown method gets the upstream\'s own JSON-RPC error; params that are not an object are refused here', async () => {
    const u = stdio();
    expect(text(await call(u, 'version'))).toBe('2025-11-25');
    expect(await u.request('no/such', {}, {})).toEqual({ error: { code: -32601, message: 'Method not found' } });
    expect(await u.request('tools/call', [1, 2], {})).toEqual({ error: { code: -32602, message: 'Invalid params: params must be an object' } });
  });
});

describe('[GW-UPSTREAM-RESTART] a stdio upstream that exits', () => {
  it('fails the call in flight at once, is restarted after a backoff and serves the next call; another upstream serves meanwhile', async () => {
    const u = stdio();
    const other = stdio({ name: 'other' });
    const pid1 = Number(text(await call(u, 'pid')));
    const slow = call(u, 'hang');
    const crash = await call(u, 'crash');
    expect(crash).toEqual({ error: { code: -32002, message: 'upstream fixture exited with code 3' } });
    // The call that was waiting on the same child ends too, long before its 30 s limit.
    expect(await slow).toEqual({ error: { code: -32002, message: 'upstream fixture exited with code 3' } });
    expect(text(await call(other, 'echo', { message: 'still here' }))).toBe('still here');
    const h = u.health();
    expect(h.state).toBe('down');
    expect(h.lastError).toBe('upstream fixture exited with code 3 (stderr: crashing on request (key -))');

    const pid2 = Number(text(await call(u, 'pid')));
    expect(pid2).not.toBe(pid1);
    expect(alive(pid1)).toBe(false);
    expect(u.health()).toMatchObject({ state: 'up', restarts: 1 });
  });

  it('backs off: a child that keeps dying is refused promptly while its restart is further away than the request limit', async () => {
    const u = stdio({ timeoutMs: 300, restartBackoff: { initialMs: 5_000, maxMs: 5_000 } });
    await call(u, 'crash');
    // Refused at once with the reason (waiting would have ended in a timeout error instead).
    const out = await call(u, 'echo', { message: 'x' });
    expect(out).toEqual({ error: { code: -32002, message: expect.stringMatching(/^upstream fixture is down, restarting in \d s$/) } });
  });

  it('a command that cannot be started is an error, not a throw', async () => {
    const u = stdio({ command: '/nonexistent/mcp-server', args: [] });
    expect(await call(u, 'echo')).toEqual({ error: { code: -32002, message: expect.stringMatching(/^upstream fixture /) } });
    expect(u.health().state).toBe('down');
  });

  it('close() stops the child (SIGTERM, then SIGKILL) and later calls are refused', async () => {
    const u = stdio();
    const pid = Number(text(await call(u, 'pid')));
    const pending = call(u, 'hang');
    await u.close();
    expect(alive(pid)).toBe(false);
    expect(await pending).toMatchObject({ error: { code: -32002 } });
    expect(await call(u, 'echo')).toEqual({ error: { code: -32002, message: 'upstream fixture is closed' } });
  });
});

describe('[GW-UPSTREAM-NO-PASSTHROUGH] a stdio upstream\'s configured secrets', () => {
  it('reach the child through its env, and never appear in health when the child prints them on stderr', async () => {
    const u = stdio({ env: { FIXTURE_KEY: 'stdio-secret-456' } });
    expect(await call(u, 'crash')).toMatchObject({ error: { code: -32002 } });
    expect(u.health().lastError).toBe('upstream fixture exited with code 3 (stderr: crashing on request (key [redacted]))');
  });
});

describe('[GW-UPSTREAM-TIMEOUT] a stdio upstream that never answers', () => {
  it('gets a JSON-RPC error after the configured time, and the child keeps serving other calls', async () => {
    const u = stdio({ timeoutMs: 300 });
    const other = stdio({ name: 'other' });
    const hung = call(u, 'hang');
    expect(text(await call(other, 'echo', { message: 'meanwhile' }))).toBe('meanwhile');
    expect(await hung).toEqual({ error: { code: -32001, message: 'upstream fixture timed out after 0.3 s' } });
    expect(text(await call(u, 'echo', { message: 'after' }))).toBe('after');
  });

  it('the time limit defaults to 30 s and is capped at 300 s', async () => {
    const { resolveLimits } = await import('../src/upstream/types.ts');
    expect(resolveLimits({}).timeoutMs).toBe(30_000);
    expect(resolveLimits({ timeoutMs: 3_600_000 }).timeoutMs).toBe(300_000);
    expect(() => resolveLimits({ timeoutMs: -1 })).toThrow(/timeoutMs/);
  });
});

describe('[GW-UPSTREAM-SIZE] a stdio upstream that answers 10 MB', () => {
  it('is cut off at maxResponseBytes (never buffered whole), the call fails, the child is reset, and another upstream serves meanwhile', async () => {
    const u = stdio({ maxResponseBytes: 1024 * 1024 });
    const other = stdio({ name: 'other' });
    const rss0 = process.memoryUsage().rss;
    const big = call(u, 'big');
    expect(text(await call(other, 'echo', { message: 'meanwhile' }))).toBe('meanwhile');
    expect(await big).toEqual({ error: { code: -32002, message: `upstream fixture sent a message over the limit of ${1024 * 1024} bytes` } });
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * 1024 * 1024);
    expect(text(await call(u, 'echo', { message: 'reset and back' }))).toBe('reset and back');
  });
});

describe('[GW-UPSTREAM-MALFORMED] a stdio upstream that writes garbage to stdout', () => {
  it('is refused: the call fails, the child is reset, the process goes on and another upstream serves meanwhile', async () => {
    const u = stdio();
    const other = stdio({ name: 'other' });
    const garbage = call(u, 'garbage');
    expect(text(await call(other, 'echo', { message: 'meanwhile' }))).toBe('meanwhile');
    expect(await garbage).toEqual({ error: { code: -32002, message: 'upstream fixture wrote output that is not JSON-RPC' } });
    expect(u.health().lastError).toMatch(/not JSON-RPC/);
    expect(text(await call(u, 'echo', { message: 'back' }))).toBe('back');
  });
});

describe('[GW-UPSTREAM-ISOLATION] one stdio child per identity', () => {
  const iso = (maxChildren: number, idleTimeoutMs = 60_000) => stdio({ isolation: { perIdentity: true, maxChildren, idleTimeoutMs } });

  it('two identities get two different child processes; one identity keeps its own', async () => {
    const u = iso(4);
    const alice = Number(text(await call(u, 'pid', {}, 'alice')));
    const bob = Number(text(await call(u, 'pid', {}, 'bob')));
    expect(alice).not.toBe(bob);
    expect(Number(text(await call(u, 'pid', {}, 'alice')))).toBe(alice);
    expect(u.health()).toMatchObject({ state: 'up', children: 2 });
    expect(await u.request('tools/list', {}, {})).toEqual({ error: { code: -32002, message: 'upstream fixture runs one process per identity and the request names none' } });
  });

  it('the cap holds: a busy set refuses a new identity with a clear error, an idle one is evicted (least recently used first)', async () => {
    const u = iso(2);
    const a = Number(text(await call(u, 'pid', {}, 'a')));
    const b = Number(text(await call(u, 'pid', {}, 'b')));
    // c evicts a (least recently used, idle).
    const c = Number(text(await call(u, 'pid', {}, 'c')));
    await until(() => !alive(a));
    expect(alive(b) && alive(c)).toBe(true);
    // b and c busy: d is refused at once.
    const busy = [call(u, 'hang', {}, 'b'), call(u, 'hang', {}, 'c')];
    await new Promise((r) => setTimeout(r, 100));
    expect(await call(u, 'pid', {}, 'd')).toEqual({ error: { code: -32002, message: 'upstream fixture has 2 processes busy for other identities; retry later' } });
    await u.close();
    await Promise.all(busy);
  });

  it('an idle child is stopped after idleTimeoutMs and a later call starts a new one', async () => {
    const u = iso(2, 200);
    const first = Number(text(await call(u, 'pid', {}, 'alice')));
    await until(() => !alive(first));
    expect(u.health().children).toBe(0);
    expect(Number(text(await call(u, 'pid', {}, 'alice')))).not.toBe(first);
  });
});
