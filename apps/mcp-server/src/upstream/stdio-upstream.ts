import { listAll, listCache, openLink, type Link, type ListKind } from './sdk-link.ts';
import { startChild, type Child } from './stdio-child.ts';
import { redactor, resolveLimits, rpcError, UPSTREAM_UNAVAILABLE, type CallOptions, type RpcOutcome, type Upstream, type UpstreamHealth, type UpstreamLimits } from './types.ts';

export interface StdioUpstreamOptions extends UpstreamLimits {
  command: string;
  args?: string[];
  /** Added to PATH and HOME, the only variables inherited: this process's environment holds keys. */
  env?: Record<string, string>;
  cwd?: string;
  /** One child per identityKey instead of one shared child. */
  isolation?: { perIdentity: true; maxChildren: number; idleTimeoutMs: number };
  /** Restart delay after an exit: `initialMs` doubling up to `maxMs` (default 1 s to 60 s). */
  restartBackoff?: { initialMs?: number; maxMs?: number };
  /** SIGTERM to SIGKILL when stopping a child, default 2 s. */
  killGraceMs?: number;
}

/** A child that ran this long before exiting starts its next backoff from the beginning. */
const STABLE_MS = 60_000;
const SHARED = '';

interface Slot {
  key: string;
  child?: Child;
  link?: Promise<Link | { error: string }>;
  startedAt: number;
  /** Exits in a row without a stable run, for the backoff. */
  failures: number;
  /** No start before this time (backoff). */
  notBefore: number;
  inFlight: number;
  idleTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

/**
 * An upstream MCP server run as a child process speaking MCP over stdio.
 *
 * The child is started lazily, by the first request (or list) that needs it, so a configured but
 * unused upstream costs no process. When it exits, calls in flight on it get an error at once;
 * the shared child is started again after a backoff (1 s doubling to 60 s, reset after a stable
 * minute), and a request arriving meanwhile waits for it only if the restart is due within the
 * request's own time limit, else it is refused at once.
 *
 * With `isolation.perIdentity` each identityKey gets its own child (no state shared between
 * callers through the upstream): at most `maxChildren`, the least recently used idle one is
 * stopped to make room, and when all are busy the request is refused; a child idle for
 * `idleTimeoutMs` is stopped.
 */
export function createStdioUpstream(opts: StdioUpstreamOptions): Upstream {
  const limits = resolveLimits(opts);
  const { name, timeoutMs, maxResponseBytes, maxInFlight } = limits;
  const iso = opts.isolation;
  if (iso && (!(iso.maxChildren >= 1) || !(iso.idleTimeoutMs > 0))) throw new Error(`upstream ${name}: isolation needs maxChildren >= 1 and idleTimeoutMs > 0`);
  const initialMs = opts.restartBackoff?.initialMs ?? 1_000;
  const maxMs = opts.restartBackoff?.maxMs ?? 60_000;
  const graceMs = opts.killGraceMs ?? 2_000;
  const env: Record<string, string> = {};
  for (const k of ['PATH', 'HOME']) if (process.env[k] !== undefined) env[k] = process.env[k];
  Object.assign(env, opts.env);
  const redact = redactor(Object.values(opts.env ?? {}));
  const cache = listCache(limits.listTtlMs);

  // identityKey (or SHARED) -> slot; Map order is least recently used first.
  const slots = new Map<string, Slot>();
  let closed = false;
  let restarts = 0;
  let lastError: string | undefined;
  let everUp = false;
  /** The last start or run of a child ended in a fault (not an idle or requested stop). */
  let down = false;

  const note = (message: string, child?: Child) => {
    const stderr = child?.stderrTail().at(-1);
    lastError = redact(stderr ? `${message} (stderr: ${stderr})` : message);
  };

  function start(slot: Slot): Promise<Link | { error: string }> {
    if (slot.startedAt > 0) restarts++;
    slot.startedAt = Date.now();
    let link: Link | undefined;
    const child = startChild({
      command: opts.command,
      args: opts.args ?? [],
      env,
      cwd: opts.cwd,
      maxLineBytes: maxResponseBytes,
      killGraceMs: graceMs,
      onExit: (why) => {
        const reason = `upstream ${name} ${why}`;
        link?.fail(reason);
        if (slot.child !== child) return;
        slot.child = undefined;
        slot.link = undefined;
        if (closed) return;
        note(reason, child);
        down = true;
        slot.failures = Date.now() - slot.startedAt >= STABLE_MS ? 1 : slot.failures + 1;
        slot.notBefore = Date.now() + Math.min(initialMs * 2 ** (slot.failures - 1), maxMs);
        // The shared child comes back by itself; a per-identity one when its identity calls again.
        if (slot.key === SHARED && !iso) {
          slot.restartTimer = setTimeout(() => {
            if (!closed && !slot.child) void ensure(slot, timeoutMs);
          }, slot.notBefore - Date.now());
          slot.restartTimer.unref();
        }
      },
    });
    slot.child = child;
    const opened = openLink(child.transport, name, timeoutMs).then((l) => {
      if ('error' in l) {
        note(l.error, child);
        down = true;
        void child.stop(graceMs);
        return l;
      }
      link = l;
      if (slot.child !== child) l.fail(`upstream ${name} exited`);
      else {
        everUp = true;
        down = false;
      }
      return l;
    });
    slot.link = opened;
    return opened;
  }

  /** The slot's live link, starting the child if needed (respecting the backoff). */
  async function ensure(slot: Slot, budgetMs: number, signal?: AbortSignal): Promise<Link | { error: string }> {
    const current = slot.link;
    if (current) {
      const l = await current;
      if (!('error' in l) && !l.broken) return l;
      // Still the slot's link: its child is on its way out, and the backoff follows.
      if (slot.link === current) return 'error' in l ? l : { error: l.broken ?? `upstream ${name} exited` };
    }
    const wait = slot.notBefore - Date.now();
    if (wait > 0) {
      if (wait >= budgetMs) return { error: `upstream ${name} is down, restarting in ${Math.ceil(wait / 1000)} s` };
      await sleep(wait, signal);
      if (signal?.aborted) return { error: 'request cancelled' };
      if (closed) return { error: `upstream ${name} is closed` };
    }
    if (slot.child && slot.link) return ensure(slot, budgetMs, signal);
    return start(slot);
  }

  function stopSlot(slot: Slot): Promise<void> {
    clearTimeout(slot.idleTimer);
    clearTimeout(slot.restartTimer);
    slots.delete(slot.key);
    const child = slot.child;
    slot.child = undefined;
    slot.link = undefined;
    return child ? child.stop(graceMs) : Promise.resolve();
  }

  /** The slot for a caller, made if needed; an error when per-identity children are all busy. */
  function slotFor(identityKey: string | undefined): Slot | { error: string } {
    const key = iso ? identityKey : SHARED;
    if (key === undefined || (iso && key === SHARED)) return { error: `upstream ${name} runs one process per identity and the request names none` };
    let slot = slots.get(key);
    if (slot) {
      slots.delete(key);
      slots.set(key, slot);
      return slot;
    }
    if (iso && slots.size >= iso.maxChildren) {
      const idle = [...slots.values()].find((s) => s.inFlight === 0);
      if (!idle) return { error: `upstream ${name} has ${iso.maxChildren} processes busy for other identities; retry later` };
      void stopSlot(idle);
    }
    slot = { key, startedAt: 0, failures: 0, notBefore: 0, inFlight: 0 };
    slots.set(key, slot);
    return slot;
  }

  async function withSlot<T>(o: CallOptions, run: (link: Link, remainingMs: number) => Promise<T>, refuse: (message: string) => T): Promise<T> {
    if (closed) return refuse(`upstream ${name} is closed`);
    const slot = slotFor(o.identityKey);
    if ('error' in slot) return refuse(slot.error);
    if (slot.inFlight >= maxInFlight) return refuse(`upstream ${name} is busy (${maxInFlight} requests in flight)`);
    slot.inFlight++;
    clearTimeout(slot.idleTimer);
    const began = Date.now();
    try {
      const link = await ensure(slot, timeoutMs, o.signal);
      if ('error' in link) return refuse(link.error);
      return await run(link, Math.max(1, timeoutMs - (Date.now() - began)));
    } finally {
      slot.inFlight--;
      if (iso && slot.inFlight === 0 && slots.get(slot.key) === slot) {
        slot.idleTimer = setTimeout(() => void stopSlot(slot), iso.idleTimeoutMs);
        slot.idleTimer.unref();
      }
    }
  }

  const list = (kind: ListKind, o: CallOptions = {}) =>
    cache.get(kind, () =>
      withSlot(
        o,
        (link, remainingMs) => listAll(link, kind, remainingMs, o.signal),
        (message) => rpcError(UPSTREAM_UNAVAILABLE, message),
      ),
    );

  return {
    async request(method, params, o = {}): Promise<RpcOutcome> {
      try {
        const out = await withSlot(
          o,
          (link, remainingMs) => link.call(method, params, remainingMs, o.signal, timeoutMs),
          (message) => rpcError(UPSTREAM_UNAVAILABLE, message),
        );
        return 'error' in out ? { error: { ...out.error, message: redact(out.error.message) } } : out;
      } catch {
        return rpcError(UPSTREAM_UNAVAILABLE, `upstream ${name} request failed`);
      }
    },
    listTools: (o) => list('tools', o),
    listResources: (o) => list('resources', o),
    listResourceTemplates: (o) => list('resourceTemplates', o),
    listPrompts: (o) => list('prompts', o),
    health() {
      const live = [...slots.values()].filter((s) => s.child);
      const state: UpstreamHealth['state'] = down ? 'down' : everUp ? 'up' : 'starting';
      return { state, ...(lastError ? { lastError } : {}), restarts, ...(iso ? { children: live.length } : {}) };
    },
    async close() {
      closed = true;
      cache.clear();
      await Promise.all([...slots.values()].map(stopSlot));
    },
  };
}
