import type { ChildProcess } from 'node:child_process';
import { createCallerBook, FREE_STOPS } from './sql-callers.ts';
import { createLane, type Lane } from './sql-lane.ts';
import type { ExecuteResult, RowsResult, StatementRequest, WorkerRequest } from './sql-protocol.ts';
import { createWorkerSlot, isRunning, StatementStopped, type WorkerRole } from './sql-worker-slot.ts';
import { ToolError } from './tool-result.ts';
import type { ToolContext } from './types.ts';

/** Distributive Omit, so each request shape keeps its own fields. */
type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

export interface SqlRunner {
  query(caller: ToolContext, sql: string, params: StatementRequest['params'], maxRows: number): Promise<RowsResult>;
  execute(caller: ToolContext, sql: string, params: StatementRequest['params'], maxRows: number): Promise<ExecuteResult>;
  /** The admin tools' fixed statements, run like caller SQL (the writer, the write time limit). */
  admin(caller: ToolContext, req: WithoutId<Exclude<WorkerRequest, StatementRequest>>): Promise<ExecuteResult>;
  /** Starts the workers ahead of the first statement, so that call does not pay the start-up. */
  warm(): void;
  /** Stops the workers; resolves once every worker process has exited (and released the database file). */
  close(): Promise<void>;
}

export interface SqlRunnerOptions {
  databasePath: string;
  /** Read workers (query); writes have one worker of their own. */
  workers: number;
  queryTimeoutMs: number;
  writeTimeoutMs: number;
  /** The demo database's disk quota. */
  maxBytes: number;
  /** A worker whose resident memory passes this is killed mid-statement. */
  memoryLimitBytes: number;
  /** The first cool-down of a caller whose statements keep being stopped (doubles per further stop). */
  coolDownMs?: number;
  now?: () => number;
}

/**
 * Runs every statement that callers can influence in child processes, one statement per process
 * at a time, and kills a process when its statement exceeds the time limit (the slot starts a
 * fresh one). Killing is the only reliable stop: SQLite runs a statement to completion inside one
 * native call.
 *
 * Reads go to `workers` read workers; every write (execute_sql, delete_users, drop_table) goes to
 * the single write worker, under its own, shorter limit. Writes so wait their turn in a queue
 * instead of failing on SQLite's busy timeout while another caller's write holds the lock.
 *
 * Each caller identity has at most one statement queued or running, in either lane, so one caller
 * occupies at most one worker and one queue place however many calls it sends at once. A caller
 * whose statements keep being stopped is refused for a cool-down (sql-callers.ts); long-running
 * callers cannot take every read worker (sql-lane.ts).
 */
export function createSqlRunner(opts: SqlRunnerOptions): SqlRunner {
  const now = opts.now ?? Date.now;
  const live = new Set<ChildProcess>();
  const slot = (role: WorkerRole, timeoutMs: number) =>
    createWorkerSlot({ databasePath: opts.databasePath, role, timeoutMs, maxBytes: opts.maxBytes, memoryLimitBytes: opts.memoryLimitBytes }, live);
  const readers = Array.from({ length: Math.max(1, opts.workers) }, () => slot('read', opts.queryTimeoutMs));
  const writer = slot('write', opts.writeTimeoutMs);
  const callers = createCallerBook({ coolDownMs: opts.coolDownMs ?? 10_000, now });
  const reads = createLane(readers, { timeoutMs: opts.queryTimeoutMs, now });
  const writes = createLane([writer], { timeoutMs: opts.writeTimeoutMs, now });
  const busy = new Set<string>();
  let closed = false;
  let nextId = 1;

  function submit<T>(lane: Lane, caller: ToolContext, req: WithoutId<WorkerRequest>): Promise<T> {
    if (closed) return Promise.reject(new ToolError('the database tools are shut down'));
    const owner = `${caller.identity.kind}:${caller.identity.subject}`;
    if (busy.has(owner)) return Promise.reject(new ToolError('busy: your previous statement is still running, try again when it has finished'));
    const wait = callers.coolDownLeft(owner);
    if (wait > 0) return Promise.reject(new ToolError(`refused: your recent statements kept being stopped at the time or memory limit; try again in ${Math.ceil(wait / 1000)} s`));
    if (lane.full) return Promise.reject(new ToolError('too many statements waiting, try again'));
    busy.add(owner);
    return new Promise<T>((resolve, reject) => {
      lane.submit(owner, { ...req, id: nextId++ }, (o) => {
        // Runs before the lane dispatches its next statement, so that sees this caller's new state.
        busy.delete(owner);
        const coolDown = callers.finished(owner, !o.ok && o.error instanceof StatementStopped);
        if (o.ok) resolve(o.value as T);
        else if (coolDown > 0) {
          reject(new ToolError(`${(o.error as Error).message}; after ${FREE_STOPS + 1} or more stops in a row your new statements are refused for ${Math.ceil(coolDown / 1000)} s`));
        } else reject(o.error);
      });
    });
  }

  return {
    warm: () => { if (!closed) for (const s of [...readers, writer]) s.warm(); },
    query: (caller, sql, params, maxRows) => submit<RowsResult>(reads, caller, { op: 'query', sql, params, maxRows }),
    execute: (caller, sql, params, maxRows) => submit<ExecuteResult>(writes, caller, { op: 'execute', sql, params, maxRows }),
    admin: (caller, req) => submit<ExecuteResult>(writes, caller, req),
    close() {
      closed = true;
      reads.close();
      writes.close();
      // Workers are unref'd: ref them again, or the host could exit before they are gone.
      const exits = [...live].filter(isRunning).map((p) => {
        p.ref();
        return new Promise<void>((r) => p.once('exit', () => r()));
      });
      return Promise.all(exits).then(() => undefined);
    },
  };
}
