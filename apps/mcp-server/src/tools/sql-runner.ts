import { fork, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { ExecuteResult, RowsResult, WorkerReply, WorkerRequest } from './sql-protocol.ts';
import { ToolError } from './tool-result.ts';

const WORKER = fileURLToPath(new URL('./sql-worker.ts', import.meta.url));
// The worker is TypeScript like the rest of the app; tsx's loader is resolved from here so it works
// whatever the process's working directory or how the parent itself was started.
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const START_TIMEOUT_MS = 20_000;
const MAX_QUEUE = 32;

export interface SqlRunner {
  query(sql: string, params: WorkerRequest['params'], maxRows: number): Promise<RowsResult>;
  execute(sql: string, params: WorkerRequest['params'], maxRows: number): Promise<ExecuteResult>;
  /** Starts the worker ahead of the first statement, so that call does not pay the start-up. */
  warm(): void;
  /** Stops the worker; resolves once every worker process has exited (and released the database file). */
  close(): Promise<void>;
}

interface Job {
  req: WorkerRequest;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * Runs caller-written SQL in a child process, one statement at a time, and kills the process when
 * a statement exceeds `timeoutMs` (the next statement starts a fresh one). Killing is the only
 * reliable stop: SQLite runs a statement to completion inside one native call.
 */
export function createSqlRunner(opts: { databasePath: string; timeoutMs: number }): SqlRunner {
  const queue: Job[] = [];
  let child: ChildProcess | undefined;
  let ready: Promise<ChildProcess> | undefined;
  let busy = false;
  let closed = false;
  let nextId = 1;
  // Every worker not yet exited, including ones killed after a time limit: close() waits for them.
  const live = new Set<ChildProcess>();
  const running = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

  function start(): Promise<ChildProcess> {
    const proc = fork(WORKER, [opts.databasePath], {
      execArgv: ['--import', TSX_LOADER],
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      serialization: 'json',
    });
    child = proc;
    for (const p of live) if (!running(p)) live.delete(p);
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

  async function pump(): Promise<void> {
    if (busy || closed) return;
    const job = queue.shift();
    if (!job) return;
    busy = true;
    try {
      job.resolve(await dispatch(job.req));
    } catch (err) {
      job.reject(err as Error);
    } finally {
      busy = false;
      void pump();
    }
  }

  async function dispatch(req: WorkerRequest): Promise<unknown> {
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

  function submit<T>(op: WorkerRequest['op'], sql: string, params: WorkerRequest['params'], maxRows: number): Promise<T> {
    if (closed) return Promise.reject(new ToolError('the database tools are shut down'));
    if (queue.length >= MAX_QUEUE) return Promise.reject(new ToolError('too many statements waiting, try again'));
    return new Promise<T>((resolve, reject) => {
      queue.push({ req: { id: nextId++, op, sql, params, maxRows }, resolve: resolve as (v: unknown) => void, reject });
      void pump();
    });
  }

  function warm(): void {
    if (closed || ready) return;
    ready = start();
    ready.catch(() => stop(child));
  }

  return {
    warm,
    query: (sql, params, maxRows) => submit<RowsResult>('query', sql, params, maxRows),
    execute: (sql, params, maxRows) => submit<ExecuteResult>('execute', sql, params, maxRows),
    close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new ToolError('the database tools are shut down'));
      stop(child);
      // Listeners are attached after stop() (which removes them). Workers are unref'd: ref them
      // again, or the host could exit before they are gone.
      const exits = [...live].filter(running).map((p) => {
        p.ref();
        return new Promise<void>((r) => p.once('exit', () => r()));
      });
      return Promise.all(exits).then(() => undefined);
    },
  };
}
