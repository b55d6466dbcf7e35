import { afterAll, describe, expect, it, vi } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePorts } from '../apps/auth-server/test/helpers.ts';

const ROOT = resolve(import.meta.dirname, '..');

/**
 * True while a process of the process group `pgid` is still running. Read from /proc (Linux), where
 * an exited process nobody has reaped yet (a zombie, state Z) is already done.
 */
function groupAlive(pgid: number): boolean {
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') return true;
  }
  return false;
}

describe('README quick start: npm start', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'quick-start-'));
  let child: ChildProcess | undefined;
  afterAll(() => {
    if (child?.exitCode === null && child.pid) process.kill(-child.pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('starts both servers with nothing set up, tells the operator what to do next, and stops on SIGTERM', async () => {
    const [authPort, mcpPort, authMetrics, mcpMetrics] = await freePorts(4);
    const issuer = `http://127.0.0.1:${authPort}`;
    const mcpUrl = `http://127.0.0.1:${mcpPort}/mcp`;
    child = spawn('npm', ['start'], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn',
        AUTH_PORT: String(authPort), AUTH_ISSUER: issuer, MCP_PORT: String(mcpPort), MCP_PUBLIC_URL: mcpUrl, MCP_PUBLIC_ORIGIN: new URL(mcpUrl).origin,
        // The defaults (9464, 9465) may be taken on a developer's machine.
        AUTH_METRICS_PORT: String(authMetrics), MCP_METRICS_PORT: String(mcpMetrics),
      },
    });
    let out = '';
    child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
    const deadline = Date.now() + 60_000;
    // The authorization server prints what to do next after its ready line (it counts the users first).
    while (!(out.includes('MCP server ready on') && out.includes('Authorization server ready') && out.includes('--password-stdin')) && Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${out}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(out).toContain(`MCP server ready on ${mcpUrl}`);
    expect(out).toContain(`Authorization server ready on ${issuer}`);
    expect(out).toMatch(/No users yet\. Create the first admin:\n.*npm run admin -- users add --email you@example.com --role admin --password-stdin/);
    expect(out).toContain('[OK] OAuth token validation enabled');

    expect((await fetch(`${issuer}/ready`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${mcpPort}/ready`)).status).toBe(200);
    const challenge = await fetch(mcpUrl, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: '{}' });
    expect(challenge.status).toBe(401);
    // [OPS-METRICS-LISTENER] each server's metrics on its own loopback listener, not on the public one.
    expect(out).toContain(`metrics: http://127.0.0.1:${authMetrics}/metrics`);
    expect(out).toContain(`[OK] Metrics: http://127.0.0.1:${mcpMetrics}/metrics`);
    expect(await (await fetch(`http://127.0.0.1:${authMetrics}/metrics`)).text()).toMatch(/^http_requests_total\{route="\/ready",method="GET",status="200",app="auth-server"\} 1$/m);
    expect(await (await fetch(`http://127.0.0.1:${mcpMetrics}/metrics`)).text()).toMatch(/^mcp_decisions_total\{server="database",tool="\(none\)",decision="[A-Z_]+",app="mcp-server"\} 1$/m);
    expect((await fetch(`${issuer}/metrics`)).status).toBe(404);

    // As a terminal's Ctrl-C or a process manager would: the whole process group gets the signal.
    // npm itself ends by that signal; what matters is that both servers shut down cleanly.
    const exited = new Promise<{ code: number | null; signal: string | null }>((r) => child!.once('exit', (code, signal) => r({ code, signal })));
    process.kill(-child.pid!, 'SIGTERM');
    const { code, signal } = await exited;
    expect(code === 0 || signal === 'SIGTERM', `exit ${code} ${signal}\n${out}`).toBe(true);
    // npm may exit before the servers it started: wait until no process of the group is left.
    await vi.waitFor(() => expect(groupAlive(child!.pid!)).toBe(false), { timeout: 15_000, interval: 50 });
    await expect(fetch(`${issuer}/health`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${mcpPort}/health`)).rejects.toThrow();
    // Databases were closed, not abandoned: no write-ahead log left behind.
    expect(readdirSync(dataDir).filter((f) => f.endsWith('-wal'))).toEqual([]);
    expect(readdirSync(dataDir)).toEqual(expect.arrayContaining(['auth.db', 'demo.db', 'kek.key']));
  }, 90_000);
});
