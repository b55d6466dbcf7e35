import type { KeyStore, Rotation } from './keys.ts';

/** How often an instance checks whether a rotation is due: every minute, or oftener for short periods. */
export function rotationCheckMs(periodMs: number): number {
  return Math.min(60_000, Math.max(250, Math.floor(periodMs / 8)));
}

export interface KeyRotationScheduler {
  /** Rotates if due now (what each timer tick does); resolves to the rotation this instance made. */
  check(): Promise<Rotation | undefined>;
  /** Stops the timer; resolves once a check under way has ended, so the store can be closed after it. */
  close(): Promise<void>;
}

export interface KeyRotationOptions {
  keys: KeyStore;
  periodMs: number;
  /** Called after each rotation this instance made (not those made by another instance). */
  onRotated: (r: Rotation) => void;
  onError: (err: unknown) => void;
  /** Time between checks before jitter; default rotationCheckMs(periodMs). */
  everyMs?: number;
  /** Source of the jitter; tests fix it. */
  random?: () => number;
}

/**
 * Checks every `everyMs` ± 25 % whether the signing key is older than the period, and rotates it
 * when it is. The jitter spreads the checks of instances started together; correctness does not
 * rest on it: the store makes one rotation of those attempted at the same moment.
 */
export function startKeyRotation(opts: KeyRotationOptions): KeyRotationScheduler {
  const everyMs = opts.everyMs ?? rotationCheckMs(opts.periodMs);
  const random = opts.random ?? Math.random;
  let running: Promise<Rotation | undefined> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  function check(): Promise<Rotation | undefined> {
    // With a slow database, checks must not pile up: a second one joins the one under way.
    running ??= opts.keys.rotateIfDue(opts.periodMs).then((r) => {
      if (r) opts.onRotated(r);
      return r;
    }).finally(() => {
      running = undefined;
    });
    return running;
  }

  function schedule(): void {
    if (closed) return;
    timer = setTimeout(() => {
      void check().catch(opts.onError).finally(schedule);
    }, Math.round(everyMs * (0.75 + 0.5 * random())));
    timer.unref();
  }
  schedule();

  return {
    check,
    async close() {
      closed = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
