import type { WorkerRequest } from './sql-protocol.ts';
import { MAX_TRACKED } from './sql-callers.ts';
import { StatementStopped, type WorkerSlot } from './sql-worker-slot.ts';
import { ToolError } from './tool-result.ts';

const MAX_QUEUE = 32;
/** How long a caller counts as slow in a lane after one of its statements there ran long. */
const SLOW_MEMORY_MS = 60_000;

export type Outcome = { ok: true; value: unknown } | { ok: false; error: unknown };

interface Waiting {
  owner: string;
  req: WorkerRequest;
  settle(o: Outcome): void;
}

interface Running {
  owner: string;
  /** When the worker received the statement (unset while the worker is still starting). */
  startedAt?: number;
}

export interface Lane {
  readonly full: boolean;
  /** Queues a request; `settle` is called once, before the next statement is dispatched. */
  submit(owner: string, req: WorkerRequest, settle: (o: Outcome) => void): void;
  /** Settles every queued request with a shut-down error and closes the workers. */
  close(): void;
}

/**
 * A set of workers (the read workers, or the write worker) and the queue in front of them. The
 * runner keeps one statement per identity queued or running, so dispatching in arrival order is
 * round-robin across identities: a caller served just now and sending again queues behind
 * everyone already waiting.
 *
 * Slow callers (a statement of theirs in this lane ran for a quarter of the time limit or was
 * stopped, within the last minute) and statements already running that long may together occupy
 * at most workers − 1 workers: one worker stays for callers whose statements are quick, so two
 * endless queries cannot make everyone else wait for the time limit.
 * A slow caller's statement waits while that share is taken; quick callers' statements queued
 * behind it go first. A lane with a single worker has no share to keep and is plain arrival order.
 */
export function createLane(slots: WorkerSlot[], opts: { timeoutMs: number; now: () => number }): Lane {
  const idle = [...slots];
  // Callers whose statement in this lane ran long (or was stopped), until when they count as slow.
  const slowUntil = new Map<string, number>();
  const queue: Waiting[] = [];
  const running = new Set<Running>();
  const slowAfterMs = opts.timeoutMs / 4;
  const slowShare = slots.length > 1 ? slots.length - 1 : 1;
  let closed = false;

  function isSlowCaller(owner: string): boolean {
    const until = slowUntil.get(owner);
    if (until === undefined) return false;
    if (until > opts.now()) return true;
    slowUntil.delete(owner);
    return false;
  }

  function markSlow(owner: string): void {
    slowUntil.delete(owner); // most recently marked last, so the oldest is the first key
    slowUntil.set(owner, opts.now() + SLOW_MEMORY_MS);
    if (slowUntil.size > MAX_TRACKED) slowUntil.delete(slowUntil.keys().next().value!);
  }

  function slowRunning(): number {
    const now = opts.now();
    let n = 0;
    for (const r of running) if (isSlowCaller(r.owner) || (r.startedAt !== undefined && now - r.startedAt >= slowAfterMs)) n++;
    return n;
  }

  function pump(): void {
    while (!closed && idle.length && queue.length) {
      const slowMayStart = slowRunning() < slowShare;
      const i = queue.findIndex((j) => slowMayStart || !isSlowCaller(j.owner));
      // Only slow callers wait and their share is taken: the idle worker stays free for others.
      if (i < 0) return;
      const job = queue.splice(i, 1)[0]!;
      // A worker replaced after a kill takes a moment to start: a slow caller waits for that one,
      // a quick caller gets a started one where there is one.
      const slow = isSlowCaller(job.owner);
      const k = idle.findIndex((s) => s.started !== slow);
      const slot = idle.splice(k < 0 ? 0 : k, 1)[0]!;
      const entry: Running = { owner: job.owner };
      running.add(entry);
      const end = (o: Outcome) => {
        running.delete(entry);
        idle.push(slot);
        const ranMs = entry.startedAt === undefined ? 0 : opts.now() - entry.startedAt;
        if (ranMs >= slowAfterMs || (!o.ok && o.error instanceof StatementStopped)) markSlow(job.owner);
        job.settle(o);
        pump();
      };
      slot.run(job.req, () => { entry.startedAt = opts.now(); }).then((value) => end({ ok: true, value }), (error: unknown) => end({ ok: false, error }));
    }
  }

  return {
    get full() { return queue.length >= MAX_QUEUE; },
    submit(owner, req, settle) {
      queue.push({ owner, req, settle });
      pump();
    },
    close() {
      closed = true;
      for (const job of queue.splice(0)) job.settle({ ok: false, error: new ToolError('the database tools are shut down') });
      for (const s of slots) s.close();
    },
  };
}
