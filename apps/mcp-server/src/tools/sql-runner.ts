import type { ChildProcess } from 'node:child_process';
import type { ExecuteResult, RowsResult, StatementRequest, WorkerRequest } from './sql-protocol.ts';
import { createWorkerSlot, isRunning } from './sql-worker-slot.ts';
import { ToolError } from './tool-result.ts';
import type { ToolContext } from './types.ts';

const MAX_QUEUE = 32;

/** Distributive Omit, so each request shape keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface SqlRunner {
  query(caller: ToolContext, sql: string, params: StatementRequest['params'], maxRows: number): Promise<RowsResult>;
  execute(caller: ToolContext, sql: string, params: StatementRequest['params'], maxRows: number): Promise<ExecuteResult>;
  /** The admin tools' fixed statements, run like caller SQL (a worker, the time limit). */
  admin(caller: ToolContext, req: WithoutId<Exclude<WorkerRequest, StatementRequest>>): Promise<ExecuteResult>;
  /** Starts the workers ahead of the first statement, so that call does not pay the start-up. */
  warm(): void;
  /** Stops the workers; resolves once every worker process has exited (and released the database file). */
  close(): Promise<void>;
}

interface Job {
  owner: string;
  req: WorkerRequest;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

/**
 * Runs every statement that callers can influence in `workers` child processes, one statement per
 * process at a time, and kills a process when its statement exceeds `timeoutMs` (the slot starts a
 * fresh one). Killing is the only reliable stop: SQLite runs a statement to completion inside one
 * native call. Each caller identity has at most one statement queued or running, so one caller
 * can occupy at most one worker and one queue place, however many calls it sends at once.
 */
export function createSqlRunner(opts: { databasePath: string; timeoutMs: number; workers?: number }): SqlRunner {
  const live = new Set<ChildProcess>();
  const idle = Array.from({ length: Math.max(1, opts.workers ?? 2) }, () => createWorkerSlot(opts, live));
  const slots = [...idle];
  const queue: Job[] = [];
  const owners = new Set<string>();
  let closed = false;
  let nextId = 1;

  function pump(): void {
    while (!closed && idle.length && queue.length) {
      const slot = idle.shift()!;
      const job = queue.shift()!;
      slot.run(job.req).then(job.resolve, job.reject).finally(() => {
        owners.delete(job.owner);
        idle.push(slot);
        pump();
      });
    }
  }

  function submit<T>(caller: ToolContext, req: WithoutId<WorkerRequest>): Promise<T> {
    if (closed) return Promise.reject(new ToolError('the database tools are shut down'));
    const owner = `${caller.identity.kind}:${caller.identity.subject}`;
    if (owners.has(owner)) return Promise.reject(new ToolError('busy: your previous statement is still running, try again when it has finished'));
    if (queue.length >= MAX_QUEUE) return Promise.reject(new ToolError('too many statements waiting, try again'));
    owners.add(owner);
    return new Promise<T>((resolve, reject) => {
      queue.push({ owner, req: { ...req, id: nextId++ } as WorkerRequest, resolve: resolve as (v: unknown) => void, reject });
      pump();
    });
  }

  return {
    warm: () => { if (!closed) for (const s of slots) s.warm(); },
    query: (caller, sql, params, maxRows) => submit<RowsResult>(caller, { op: 'query', sql, params, maxRows }),
    execute: (caller, sql, params, maxRows) => submit<ExecuteResult>(caller, { op: 'execute', sql, params, maxRows }),
    admin: (caller, req) => submit<ExecuteResult>(caller, req),
    close() {
      closed = true;
      for (const job of queue.splice(0)) job.reject(new ToolError('the database tools are shut down'));
      for (const s of slots) s.close();
      // Workers are unref'd: ref them again, or the host could exit before they are gone.
      const exits = [...live].filter(isRunning).map((p) => {
        p.ref();
        return new Promise<void>((r) => p.once('exit', () => r()));
      });
      return Promise.all(exits).then(() => undefined);
    },
  };
}
