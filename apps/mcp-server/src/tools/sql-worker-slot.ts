import { fork, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { WorkerReply, WorkerRequest } from './sql-protocol.ts';
import { ToolError } from './tool-result.ts';

// Compiled (`npm run build`), this module is JavaScript and so is the worker beside it: plain node
// runs it. From source, the worker is TypeScript and runs under tsx's loader, resolved from here so
// it works whatever the process's working directory or how the parent itself was started.
const COMPILED = import.meta.url.endsWith('.js');
const WORKER = fileURLToPath(new URL(COMPILED ? './sql-worker.js' : './sql-worker.ts', import.meta.url));
const WORKER_EXEC_ARGV = COMPILED ? [] : ['--import', pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href];
const START_TIMEOUT_MS = 20_000;
const MEMORY_POLL_MS = 100;
const MiB = 1024 * 1024;

export type WorkerRole = 'read' | 'write';

export interface WorkerSlotOptions {
  databasePath: string;
  /** read: the query connection only; write: the execute_sql and admin connections, under the disk quota. */
  role: WorkerRole;
  timeoutMs: number;
  /** The demo database's disk quota (max_page_count on every connection that can write). */
  maxBytes: number;
  /** Resident memory at which the worker is killed mid-statement (temporary data is kept in memory). */
  memoryLimitBytes: number;
}

/**
 * The statement did not finish on its own: stopped at the time limit or the memory limit, or its
 * worker died under it. The runner counts these per caller (the cool-down).
 */
export class StatementStopped extends ToolError {}

/** One SQL worker process, replaced by a fresh one whenever a statement exceeds the time limit. */
export interface WorkerSlot {
  /** Runs one request; `onStart` is called when it is handed to a started worker (queueing and start-up excluded). */
  run(req: WorkerRequest, onStart?: () => void): Promise<unknown>;
  /** Starts the process ahead of the first statement, so that call does not pay the start-up. */
  warm(): void;
  /** A started worker is waiting for work (false while one starts, e.g. after a kill). */
  readonly started: boolean;
  /** Kills the current process for good: no fresh one is started (the runner waits for exits through `live`). */
  close(): void;
}

export const isRunning = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

/**
 * @param live every worker process not yet exited, including ones killed after a time limit:
 *   the runner's close() waits for them.
 */
export function createWorkerSlot(opts: WorkerSlotOptions, live: Set<ChildProcess>): WorkerSlot {
  let child: ChildProcess | undefined;
  let ready: Promise<ChildProcess> | undefined;
  let closed = false;
  let startedProc: ChildProcess | undefined;

  function start(): Promise<ChildProcess> {
    const proc = fork(WORKER, [opts.databasePath, opts.role, String(opts.maxBytes)], {
      execArgv: WORKER_EXEC_ARGV,
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'json',
    });
    child = proc;
    for (const p of live) if (!isRunning(p)) live.delete(p);
    live.add(proc);
    // Never keep the host process alive just for an idle worker.
    proc.unref();
    proc.channel?.unref();
    // A failed send or kill is reported through the reply timeout or 'exit'; never crash the host.
    proc.on('error', () => {});
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new ToolError('the SQL worker did not start')); }, START_TIMEOUT_MS);
      proc.once('message', (m: WorkerReply) => {
        clearTimeout(timer);
        if (m.type === 'ready') {
          if (child === proc) startedProc = proc;
          resolve(proc);
        }
        else reject(new ToolError('the SQL worker did not start'));
      });
      proc.once('exit', () => {
        clearTimeout(timer);
        if (child === proc) { child = undefined; ready = undefined; }
        reject(new ToolError('the SQL worker did not start'));
      });
    });
  }

  function stop(proc: ChildProcess | undefined): void {
    if (!proc) return;
    if (child === proc) { child = undefined; ready = undefined; }
    proc.removeAllListeners();
    proc.on('error', () => {});
    proc.kill('SIGKILL');
  }

  function warm(): void {
    if (closed || ready) return;
    ready = start();
    ready.catch(() => stop(child));
  }

  async function run(req: WorkerRequest, onStart?: () => void): Promise<unknown> {
    if (closed) throw new ToolError('the database tools are shut down');
    ready ??= start();
    const proc = await ready.catch((err) => { stop(child); throw err; });
    return new Promise((resolve, reject) => {
      let settled = false;
      const done = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(memoryWatch);
        proc.off('message', onMessage);
        proc.off('exit', onExit);
        fn();
      };
      const kill = (message: string) => done(() => { stop(proc); warm(); reject(new StatementStopped(message)); });
      const onMessage = (m: WorkerReply) => {
        if (m.type !== 'reply' || m.id !== req.id) return;
        done(() => (m.ok ? resolve(m.result) : reject(new ToolError(m.error))));
      };
      const onExit = () => done(() => { stop(proc); reject(new StatementStopped('the statement failed (the SQL worker stopped)')); });
      // The timer also keeps the host alive while a statement runs, as the worker is unref'd.
      const timer = setTimeout(() => kill(`the statement was stopped after the time limit of ${opts.timeoutMs} ms`), opts.timeoutMs);
      // Sorts, DISTINCT and other temporary b-trees live in the worker's memory (temp_store =
      // MEMORY, so they never fill the disk), and SQLite in this build does not enforce a heap
      // limit: the process's resident size is watched instead, where the system reports it.
      const memoryWatch = setInterval(() => {
        residentBytes(proc.pid).then((rss) => {
          if (rss !== undefined && rss > opts.memoryLimitBytes) {
            kill(`the statement was stopped: it needed more than the memory limit of ${Math.round(opts.memoryLimitBytes / MiB)} MiB`);
          }
        }, () => {});
      }, MEMORY_POLL_MS);
      proc.on('message', onMessage);
      proc.once('exit', onExit);
      try {
        proc.send(req);
        onStart?.();
      } catch {
        onExit();
      }
    });
  }

  return {
    run,
    warm,
    get started() { return startedProc !== undefined && startedProc === child && isRunning(startedProc); },
    close: () => { closed = true; stop(child); },
  };
}

/** Resident set size of a process from /proc (Linux); undefined where the system does not offer it. */
async function residentBytes(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined || process.platform !== 'linux') return undefined;
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}
