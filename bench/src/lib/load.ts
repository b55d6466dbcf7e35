import autocannon from 'autocannon';
import type { CpuSource } from './proc.ts';

export interface LoadSettings {
  connections: number;
  /** Measured seconds. */
  duration: number;
  /** Unmeasured seconds before, same requests. */
  warmup: number;
}

export interface LoadResult {
  rps: number;
  p50: number;
  p99: number;
  requests: number;
  /** Responses outside 2xx, plus socket errors and timeouts. */
  failures: number;
  /** Server CPU per request in µs (user+system time of every process measured, over the measured window). */
  cpuPerReq: number;
  /** With several processes measured: each one's share of cpuPerReq. */
  cpuParts?: { name: string; cpuPerReq: number }[];
}

/** One HTTP request shape: fixed, or built per request (setupRequest) with a hook on its response. */
export interface Target {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Built per request: return the body (and optional headers) for the next request. */
  next?: () => { body: string; headers?: Record<string, string> };
  /** Sees each response; returning false counts it as failed (e.g. a 200 with the wrong content). */
  onResponse?: (status: number, body: string) => boolean | void;
}

function run(t: Target, connections: number, duration: number, bad: { n: number }): Promise<autocannon.Result> {
  const opts: autocannon.Options = {
    url: t.url,
    method: t.method ?? 'POST',
    connections,
    duration,
    pipelining: 1,
    timeout: 10,
    headers: t.headers ?? {},
    ...(t.body !== undefined ? { body: t.body } : {}),
  };
  if (t.next || t.onResponse) {
    opts.requests = [{
      method: t.method ?? 'POST',
      ...(t.next
        ? {
          setupRequest: (req: autocannon.Request) => {
            const n = t.next!();
            return { ...req, body: n.body, headers: { ...(t.headers ?? {}), ...(n.headers ?? {}) } };
          },
        }
        : {}),
      ...(t.onResponse
        ? {
          onResponse: (status: number, body: string) => {
            if (t.onResponse!(status, body) === false) bad.n++;
          },
        }
        : {}),
    }];
  }
  return new Promise((resolve, reject) => {
    autocannon(opts, (err: Error | null, result) => (err ? reject(err) : resolve(result)));
  });
}

/**
 * Warms up, then measures one target with the run's connections and duration. CPU comes from the
 * server process, or the sum of several (a gateway and its upstream), each also reported alone.
 */
export async function measure(t: Target, s: LoadSettings, server?: CpuSource | readonly CpuSource[]): Promise<LoadResult> {
  const sources = server === undefined ? [] : 'cpuMicros' in server ? [server] : server;
  if (s.warmup > 0) await run(t, s.connections, s.warmup, { n: 0 });
  const bad = { n: 0 };
  const cpu0 = sources.map((p) => p.cpuMicros());
  const r = await run(t, s.connections, s.duration, bad);
  const cpu1 = sources.map((p) => p.cpuMicros());
  const ok = r['2xx'];
  const perReq = (i: number) => (ok > 0 ? (cpu1[i]! - cpu0[i]!) / r.requests.total : Number.NaN);
  const parts = sources.map((p, i) => ({ name: p.name, cpuPerReq: perReq(i) }));
  return {
    rps: r.requests.average,
    p50: r.latency.p50,
    p99: r.latency.p99,
    requests: r.requests.total,
    failures: r.non2xx + r.errors + r.timeouts + bad.n,
    cpuPerReq: parts.length ? parts.reduce((sum, p) => sum + p.cpuPerReq, 0) : Number.NaN,
    ...(parts.length > 1 ? { cpuParts: parts } : {}),
  };
}
