// Runs an app's main.ts as a real process (`node --import tsx …`; the container runs the same code compiled) so tests
// can send it signals and watch it exit.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { freePort } from '../helpers/ports.ts';
import { ROOT } from './deploy-files.ts';

export { freePort };

export const testKek = () => randomBytes(32).toString('base64');

export interface AppProcess {
  child: ChildProcess;
  base: string;
  output: () => string;
  /** Resolves with the exit code (or signal name) and how long after `since` it came. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  kill(): void;
}

/**
 * Starts `entry` with only `env` (plus PATH): nothing leaks in from the developer's shell. `nodeArgs`
 * go before the entry (TypeScript through tsx unless told otherwise), `args` after it.
 */
export function startApp(
  entry: string, port: number, env: Record<string, string>, opts: { nodeArgs?: readonly string[]; args?: readonly string[] } = {},
): AppProcess {
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? ['--import', 'tsx']), entry, ...(opts.args ?? [])], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', LOG_LEVEL: 'warn', AUTH_METRICS_PORT: '0', MCP_METRICS_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  return {
    child,
    base: `http://127.0.0.1:${port}`,
    output: () => out,
    exited,
    kill: () => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); },
  };
}

/** Polls `${base}/ready` until it answers 200; fails with the process output if it exits or times out. */
export async function waitReady(app: AppProcess, timeoutMs = 25_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (app.child.exitCode !== null) throw new Error(`exited early (${app.child.exitCode}):\n${app.output()}`);
    const ok = await fetch(`${app.base}/ready`).then((r) => r.status === 200, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`not ready after ${timeoutMs} ms:\n${app.output()}`);
}

/** True when a new TCP connection to the port is refused (the listener is closed). */
export function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => { s.destroy(); resolve(false); });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED'));
  });
}

/** Waits until new connections are refused, polling every 20 ms. */
export async function waitRefused(port: number, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await connectionRefused(port)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return false;
}

/** Runs the admin CLI as a process with `env`; returns its exit code and output. */
export function admin(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/admin.ts', ...args], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', NODE_ENV: 'test', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Raw HTTP/1.1 over one socket: write in pieces, read every response until the server closes it. */
export function rawConnection(port: number) {
  const socket = connect({ host: '127.0.0.1', port });
  let received = '';
  socket.on('data', (d: Buffer) => { received += d.toString('latin1'); });
  const closed = new Promise<string>((resolve) => socket.once('close', () => resolve(received)));
  socket.on('error', () => {});
  return {
    connected: new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); }),
    write: (s: string) => new Promise<void>((resolve) => socket.write(s, () => resolve())),
    received: () => received,
    closed,
    destroy: () => socket.destroy(),
  };
}

/** Status codes of the HTTP responses in a raw byte stream, in order. */
export const statuses = (raw: string) => [...raw.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => Number(m[1]));
