import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { SCREENSHOTS } from '../helpers/chromium.ts';

/**
 * Running real MCP clients as subprocesses: the BROWSER stand-in they open, a temp home for their
 * token stores, and a runner that captures output and never leaves a process behind.
 */

/** The `BROWSER=` program: real Chromium that signs in and presses Allow or Deny. */
export const BROWSER_SCRIPT = resolve(import.meta.dirname, '../helpers/browser-approve.mjs');
export const REPO = resolve(import.meta.dirname, '../..');
/** mcp-remote 0.15: `client.js` is mcp-remote-client, `proxy.js` the stdio proxy desktop apps launch. */
export const MCP_REMOTE_DIST = join(REPO, 'node_modules/mcp-remote/dist');
/** Screenshots of the pages as each client's user saw them; test-output/ is git-ignored. */
export const CLIENT_SCREENSHOTS = join(SCREENSHOTS, 'clients');

export interface BrowserRun {
  url: string;
  pages: string[];
  final?: string;
  error?: string;
  consentHeading?: string;
  /** The consent screen's "Service it will access" and its scope lines ("<sentence> <scope>"). */
  consentService?: string;
  consentScopes?: string[];
  wrongPassword?: { path: string; alert?: string };
}

export interface BrowserOptions {
  email: string;
  password: string;
  decision?: 'allow' | 'deny';
  wrongPasswordFirst?: boolean;
  /** File name prefix for screenshots; none are taken without it. */
  screenshots?: string;
}

/** A temp directory for one client's state (tokens, registrations, browser log). */
export class ClientHome {
  readonly dir = mkdtempSync(join(tmpdir(), 'mcp-client-'));
  readonly browserLog = join(this.dir, 'browser.jsonl');

  /** Environment for the browser stand-in, as the client passes it on to `$BROWSER`. */
  browserEnv(o: BrowserOptions): Record<string, string> {
    return {
      BROWSER: BROWSER_SCRIPT,
      E2E_EMAIL: o.email,
      E2E_PASSWORD: o.password,
      E2E_DECISION: o.decision ?? 'allow',
      E2E_WRONG_PASSWORD: o.wrongPasswordFirst ? '1' : '0',
      E2E_BROWSER_LOG: this.browserLog,
      ...(o.screenshots ? { E2E_SCREENSHOTS: CLIENT_SCREENSHOTS, E2E_SCREENSHOT_PREFIX: o.screenshots } : {}),
    };
  }

  /** Environment whose browser fails loudly and records that it was opened: for runs that must not need one. */
  noBrowserEnv(): Record<string, string> {
    return { BROWSER: BROWSER_SCRIPT, E2E_EMAIL: '', E2E_PASSWORD: '', E2E_BROWSER_LOG: this.browserLog };
  }

  /** Browser runs so far. The browser outlives a client that exits on the callback, so wait for `count`. */
  async browserRuns(count = 0, timeoutMs = 15_000): Promise<BrowserRun[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const runs = existsSync(this.browserLog)
        ? readFileSync(this.browserLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as BrowserRun)
        : [];
      if (runs.length >= count || Date.now() > deadline) return runs;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs a client to completion. stdin stays open until the client exits (mcp-remote-client shuts
 * down when it closes); on timeout the whole process group is killed and the output so far returned.
 */
export function runClient(command: string, args: string[], opts: { env: Record<string, string>; timeoutMs: number; cwd?: string }): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: opts.cwd ?? REPO,
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => { stdout += c.toString(); });
    child.stderr.on('data', (c: Buffer) => { stderr += c.toString(); });
    const timer = setTimeout(() => {
      stderr += `\n[harness] killed after ${opts.timeoutMs} ms`;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { /* already gone */ }
    }, opts.timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parses a client's JSON-lines stdout. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

export interface McpRemoteProxy {
  client: Client;
  /** Waits for `p`, or fails after 15 s with what the proxy logged so far. */
  answer<T>(p: Promise<T>): Promise<T>;
  /** The proxy's standard error so far. */
  log(): string;
  close(): Promise<void>;
}

/**
 * mcp-remote's stdio proxy for `serverUrl` on the registration and tokens in `env`'s
 * MCP_REMOTE_CONFIG_DIR (`port` must be the callback port they were stored with), and an SDK
 * client connected to it as a desktop app would be.
 */
export async function mcpRemoteProxy(serverUrl: string, port: number, env: Record<string, string>): Promise<McpRemoteProxy> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [join(MCP_REMOTE_DIST, 'proxy.js'), serverUrl, String(port)],
    env: { ...process.env, ...env } as Record<string, string>,
    stderr: 'pipe',
  });
  let log = '';
  transport.stderr?.on('data', (c: Buffer) => { log += c.toString(); });
  const client = new Client({ name: 'desktop-app', version: '1.0.0' });
  const answer = <T,>(p: Promise<T>) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([p, new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`mcp-remote did not answer:\n${log}`)), 15_000); })])
      .finally(() => clearTimeout(timer));
  };
  try {
    await answer(client.connect(transport));
  } catch (err) {
    await client.close();
    throw err;
  }
  return { client, answer, log: () => log, close: () => client.close() };
}
