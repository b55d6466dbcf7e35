import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { WorkerReply, WorkerRequest } from './sql-protocol.ts';
import { ToolError } from './tool-result.ts';

const WORKER = fileURLToPath(new URL('./sql-worker.ts', import.meta.url));
// The worker is TypeScript like the rest of the app; tsx's loader is resolved from here so it works
// whatever the process's working directory or how the parent itself was started.
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const START_TIMEOUT_MS = 20_000;

/** One SQL worker process, replaced by a fresh one whenever a statement exceeds the time limit. */
export interface WorkerSlot {
  run(req: WorkerRequest): Promise<unknown>;
  /** Starts the process ahead of the first statement, so that call does not pay the start-up. */
  warm(): void;
  /** Kills the current process for good: no fresh one is started (the runner waits for exits through `live`). */
  close(): void;
}

export const isRunning = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

/**
 * @param live every worker process not yet exited, including ones killed after a time limit:
 *   the runner's close() waits for them.
 */
export function createWorkerSlot(opts: { databasePath: string; timeoutMs: number }, live: Set<ChildProcess>): WorkerSlot {
  let child: ChildProcess | undefined;
  let ready: Promise<ChildProcess> | undefined;
  let closed = false;

  function start(): Promise<ChildProcess> {
    const proc = fork(WORKER, [opts.databasePath], {
      execArgv: ['--import', TSX_LOADER],
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
        if (m.type === 'ready') resolve(proc);
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

  async function run(req: WorkerRequest): Promise<unknown> {
    if (closed) throw new ToolError('the database tools are shut down');
    ready ??= start();
    const proc = await ready.catch((err) => { stop(child); throw err; });
    return new Promise((resolve, reject) => {
      const done = (fn: () => void) => { clearTimeout(timer); proc.off('message', onMessage); proc.off('exit', onExit); fn(); };
      const onMessage = (m: WorkerReply) => {
        if (m.type !== 'reply' || m.id !== req.id) return;
        done(() => (m.ok ? resolve(m.result) : reject(new ToolError(m.error))));
      };
      const onExit = () => done(() => { stop(proc); reject(new ToolError('the statement failed (the SQL worker stopped)')); });
      // The timer also keeps the host alive while a statement runs, as the worker is unref'd.
      const timer = setTimeout(() => done(() => {
        stop(proc);
        warm();
        reject(new ToolError(`the statement was stopped after the time limit of ${opts.timeoutMs} ms`));
      }), opts.timeoutMs);
      proc.on('message', onMessage);
      proc.once('exit', onExit);
      try {
        proc.send(req);
      } catch {
        onExit();
      }
    });
  }

  return { run, warm, close: () => { closed = true; stop(child); } };
}
