import { lookup as dnsLookup } from 'node:dns/promises';
import http from 'node:http';
import https from 'node:https';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';

/** Why a fetch was refused or failed; `transient` marks failures worth retrying later (network, 5xx). */
export class SafeFetchError extends Error {
  readonly transient: boolean;
  constructor(message: string, transient = false) {
    super(message);
    this.name = 'SafeFetchError';
    this.transient = transient;
  }
}

export interface SafeFetchOptions {
  /** Allow private, loopback and other special-use addresses, and http on loopback (development and tests only). */
  allowPrivateAddresses: boolean;
  maxBytes: number;
  timeoutMs: number;
  accept: string;
  /** Ends the fetch early (the app is closing); it then fails like a timeout. */
  signal?: AbortSignal;
  /** Resolves a hostname to its addresses; defaults to the system resolver (tests map names). */
  resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>;
}

export interface SafeFetchResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** True for addresses an outbound fetch must never reach: anything ipaddr.js does not class as unicast. */
export function isSpecialUseAddress(address: string): boolean {
  if (!ipaddr.isValid(address)) return true;
  // process() unwraps IPv4-mapped IPv6 (::ffff:10.0.0.1), which would otherwise pass as unicast IPv6.
  return ipaddr.process(address).range() !== 'unicast';
}

function isLoopbackAddress(address: string): boolean {
  return ipaddr.isValid(address) && ipaddr.process(address).range() === 'loopback';
}

const systemResolve = (hostname: string) => dnsLookup(hostname, { all: true, verbatim: true });

async function resolvePinned(hostname: string, opts: SafeFetchOptions): Promise<{ address: string; family: number }> {
  const host = hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: { address: string; family: number }[];
  if (ipaddr.isValid(host)) addresses = [{ address: host, family: host.includes(':') ? 6 : 4 }];
  else {
    try {
      addresses = await (opts.resolve ?? systemResolve)(host);
    } catch {
      throw new SafeFetchError('host could not be resolved', true);
    }
  }
  if (addresses.length === 0) throw new SafeFetchError('host could not be resolved', true);
  // Every address must be allowed: otherwise a name with one public and one private address could
  // still reach the private one.
  if (!opts.allowPrivateAddresses && addresses.some((a) => isSpecialUseAddress(a.address))) {
    throw new SafeFetchError('host resolves to a private or special-use address');
  }
  return addresses[0]!;
}

/**
 * GETs a URL with SSRF defences (MCP 2026-07-28 security considerations; CIMD draft §8.6, §8.7):
 * https only, the hostname resolved once and every address checked, the connection pinned to the
 * checked address (no second lookup for DNS rebinding to exploit), no redirects followed, the body
 * capped at maxBytes and the whole exchange at timeoutMs. No cookies, credentials or proxies.
 */
export async function safeFetch(url: URL, opts: SafeFetchOptions): Promise<SafeFetchResponse> {
  // The deadline is for the whole exchange (DNS, connect, headers and body together), so a server
  // trickling bytes cannot hold the socket, or the caller's fetch slot, past it. The abort also
  // reaches a request started after the deadline (a slow DNS answer), so nothing outlives it.
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const deadline = new Promise<never>((_, reject) => {
    const stop = (reason: string) => {
      controller.abort();
      reject(new SafeFetchError(reason, true));
    };
    timer = setTimeout(() => stop('timed out'), opts.timeoutMs);
    onAbort = () => stop('cancelled');
    if (opts.signal?.aborted) onAbort();
    else opts.signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([deadline, fetchPinned(url, opts, controller.signal)]);
  } finally {
    clearTimeout(timer);
    if (onAbort) opts.signal?.removeEventListener('abort', onAbort);
    controller.abort();
  }
}

async function fetchPinned(url: URL, opts: SafeFetchOptions, signal: AbortSignal): Promise<SafeFetchResponse> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new SafeFetchError('only https URLs can be fetched');
  const pinned = await resolvePinned(url.hostname, opts);
  if (signal.aborted) throw new SafeFetchError('timed out', true);
  if (url.protocol === 'http:' && !(opts.allowPrivateAddresses && isLoopbackAddress(pinned.address))) {
    throw new SafeFetchError('only https URLs can be fetched');
  }
  const lookup: LookupFunction = (_hostname, options, cb) => {
    if (options.all) cb(null, [pinned]);
    else cb(null, pinned.address, pinned.family);
  };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise<SafeFetchResponse>((resolve, reject) => {
    const req = client.request(url, {
      method: 'GET',
      // The certificate is still checked against the URL's hostname (SNI and verification use `host`).
      lookup,
      agent: false,
      signal,
      headers: { accept: opts.accept, 'user-agent': 'mcp-oauth-stack/cimd' },
    });
    req.on('error', () => reject(new SafeFetchError('connection failed', true)));
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        res.destroy();
        return reject(new SafeFetchError('redirects are not followed'));
      }
      const declared = Number(res.headers['content-length'] ?? 0);
      if (declared > opts.maxBytes) {
        res.destroy();
        return reject(new SafeFetchError(`response is larger than ${opts.maxBytes} bytes`));
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          res.destroy();
          reject(new SafeFetchError(`response is larger than ${opts.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('error', () => reject(new SafeFetchError('connection failed', true)));
      res.on('close', () => { if (!res.complete) reject(new SafeFetchError('connection closed early', true)); });
      res.on('end', () => resolve({ status, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.end();
  });
}
