import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serverCommand } from './machine.ts';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CLK_TCK = 100; // Linux USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s

/** Something whose CPU time a measurement counts: a server process, or the processes it started. */
export interface CpuSource {
  name: string;
  /** User + system CPU time used so far, in microseconds (10 ms resolution). */
  cpuMicros(): number;
}

export interface ServerProcess extends CpuSource {
  pid: number;
  /** Resident set size in MB (from /proc), or NaN where /proc is missing. */
  rssMb(): number;
  /** The highest resident set size so far in MB (the kernel's VmHWM, so no sampling can miss a peak), or NaN. */
  peakRssMb(): number;
  stop(): Promise<void>;
}

export interface StartOptions {
  name: string;
  /** Script path relative to the repository root, run with tsx; or `command`. */
  script?: string;
  /** Node arguments instead of a script (a plain `node` process, no tsx): a package's entry point and its flags. */
  command?: string[];
  args?: string[];
  env: Record<string, string>;
  /** Polled until it answers 2xx (any HTTP answer with `readyOnAnyAnswer`: servers without a health route). */
  readyUrl: string;
  readyOnAnyAnswer?: boolean;
  /** Where the child's stdout and stderr go. */
  logFile: string;
  /** Extra node flags, e.g. --cpu-prof. */
  nodeFlags?: string[];
}

function procField(pid: number, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch {
    return undefined;
  }
}

async function waitReady(url: string, anyAnswer: boolean, child: ChildProcess, logFile: string, timeoutMs = 60_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode} before it was ready; see ${logFile}`);
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      await r.arrayBuffer();
      if (r.ok || anyAnswer) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`server not ready after ${timeoutMs} ms (${url}); see ${logFile}`);
}

/** A size field of /proc/<pid>/status (VmRSS, VmHWM) in MB; NaN where /proc is missing. */
function statusMb(pid: number, field: string): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(procField(pid, 'status') ?? '');
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** User + system CPU time of one process so far, in µs; NaN once it is gone. */
function processCpuMicros(pid: number): number {
  const stat = procField(pid, 'stat');
  if (!stat) return Number.NaN;
  // Fields after the parenthesised command name: utime and stime are fields 14 and 15.
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) / CLK_TCK) * 1e6;
}

/** The processes `pid` started, and theirs (Linux: /proc/<pid>/task/<tid>/children). */
export function descendants(pid: number): number[] {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  const children = tids.flatMap((t) => (procField(pid, `task/${t}/children`) ?? '').split(' ').filter(Boolean).map(Number));
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/**
 * The CPU time of the processes a server started (a stdio upstream and what it runs), read anew
 * on each call. The kernel adds a child's time to its parent's only once the child has exited and
 * been waited for, so a live child's time is nowhere in the parent's own figures.
 */
export function childrenOf(server: ServerProcess, name: string): CpuSource {
  return { name, cpuMicros: () => descendants(server.pid).reduce((sum, pid) => sum + (processCpuMicros(pid) || 0), 0) };
}

/** Starts a server in its own process (pinned to the server CPU when possible) and waits until it answers. */
export async function startServer(o: StartOptions): Promise<ServerProcess> {
  const entry = o.command ?? ['--import', 'tsx', join(REPO_ROOT, o.script ?? '')];
  const [cmd, args] = serverCommand([...(o.nodeFlags ?? []), ...entry, ...(o.args ?? [])]);
  const log = createWriteStream(o.logFile, { flags: 'a' });
  const child = spawn(cmd, args, { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', AUTH_METRICS_PORT: '0', MCP_METRICS_PORT: '0', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    await waitReady(o.readyUrl, o.readyOnAnyAnswer ?? false, child, o.logFile);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  const pid = child.pid!;
  return {
    name: o.name,
    pid,
    rssMb: () => statusMb(pid, 'VmRSS'),
    peakRssMb: () => statusMb(pid, 'VmHWM'),
    cpuMicros: () => processCpuMicros(pid),
    async stop() {
      if (child.exitCode !== null) return;
      // A bridge or gateway normally ends the upstream processes it started; any left are ended here.
      const started = descendants(pid);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
      for (const p of started) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      log.end();
    },
  };
}
