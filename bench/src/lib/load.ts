import http from 'node:http';
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

/** One request on `agent` (a single keep-alive socket): its status and body. */
function once(t: Target, agent: http.Agent): Promise<{ status: number; body: string }> {
  const n = t.next?.();
  const body = n?.body ?? t.body ?? '';
  const url = new URL(t.url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { hostname: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: t.method ?? 'POST', agent, headers: { ...t.headers, ...n?.headers, 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]! : Number.NaN);

/**
 * One connection, one request at a time (the next is sent when the previous answer has been read
 * in full), timed each with a microsecond clock: the latency a single caller sees when nothing
 * queues. autocannon's histogram keeps whole milliseconds, too coarse for a difference of a
 * fraction of one; and at 10 connections p50 mostly measures waiting for the shared CPU.
 */
export async function measureSequential(t: Target, s: LoadSettings, server?: CpuSource | readonly CpuSource[]): Promise<LoadResult> {
  const sources = server === undefined ? [] : 'cpuMicros' in server ? [server] : server;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    const until = (seconds: number) => performance.now() + seconds * 1000;
    for (const end = until(s.warmup); performance.now() < end;) await once(t, agent);
    const cpu0 = sources.map((p) => p.cpuMicros());
    const times: number[] = [];
    let failures = 0;
    const start = performance.now();
    for (const end = until(s.duration); performance.now() < end;) {
      const t0 = performance.now();
      try {
        const r = await once(t, agent);
        times.push(performance.now() - t0);
        if (r.status < 200 || r.status >= 300 || t.onResponse?.(r.status, r.body) === false) failures++;
      } catch {
        failures++;
      }
    }
    const elapsed = (performance.now() - start) / 1000;
    const cpu1 = sources.map((p) => p.cpuMicros());
    const total = times.length + failures;
    const parts = sources.map((p, i) => ({ name: p.name, cpuPerReq: total > 0 ? (cpu1[i]! - cpu0[i]!) / total : Number.NaN }));
    times.sort((a, b) => a - b);
    return {
      rps: total / elapsed,
      p50: percentile(times, 0.5),
      p99: percentile(times, 0.99),
      requests: total,
      failures,
      cpuPerReq: parts.length ? parts.reduce((sum, p) => sum + p.cpuPerReq, 0) : Number.NaN,
      ...(parts.length > 1 ? { cpuParts: parts } : {}),
    };
  } finally {
    agent.destroy();
  }
}
