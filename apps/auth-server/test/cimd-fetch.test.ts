import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isSpecialUseAddress, safeFetch, type SafeFetchOptions } from '../src/services/safe-fetch.ts';
import { cacheLifetimeSeconds } from '../src/services/cimd-cache.ts';

describe('SSRF-safe fetch', () => {
  let server: Server;
  let port = 0;
  let connections = 0;
  let lastHost = '';
  beforeAll(async () => {
    server = createServer((req, res) => {
      lastHost = req.headers.host ?? '';
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ accept: req.headers.accept, cookie: req.headers.cookie ?? null }));
    });
    server.on('connection', () => { connections++; });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });

  const opts = (o: Partial<SafeFetchOptions>): SafeFetchOptions => ({ allowPrivateAddresses: false, maxBytes: 5120, timeoutMs: 1000, accept: 'application/json', ...o });

  it('[MCP-CIMD-SSRF] classifies every non-unicast address as special-use (ipaddr.js ranges, IPv4-mapped IPv6 unwrapped)', () => {
    const special = ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '224.0.0.1',
      '255.255.255.255', '192.0.2.1', '::1', '::', 'fe80::1', 'fc00::1', 'fd12:3456::1', 'ff02::1', '::ffff:10.0.0.1', '::ffff:127.0.0.1', '64:ff9b::a00:1', '2001:db8::1', 'not-an-ip'];
    for (const a of special) expect(isSpecialUseAddress(a), a).toBe(true);
    for (const a of ['93.184.216.34', '8.8.8.8', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isSpecialUseAddress(a), a).toBe(false);
  });

  it('[MCP-CIMD-SSRF] resolves the name once and connects to the checked address (DNS pinning), sending only Accept', async () => {
    let lookups = 0;
    const res = await safeFetch(new URL(`http://cimd.invalid:${port}/doc`), opts({
      allowPrivateAddresses: true,
      resolve: async () => { lookups++; return [{ address: '127.0.0.1', family: 4 }]; },
    }));
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body.toString())).toEqual({ accept: 'application/json', cookie: null });
    // The name never resolves in real DNS: the request can only have reached the pinned address.
    expect(lastHost).toBe(`cimd.invalid:${port}`);
    expect(lookups).toBe(1);
  });

  it('[MCP-CIMD-SSRF] refuses a name with any special-use address among its addresses', async () => {
    const before = connections;
    const resolve = async () => [{ address: '93.184.216.34', family: 4 }, { address: '127.0.0.1', family: 4 }];
    await expect(safeFetch(new URL(`https://mixed.invalid:${port}/doc`), opts({ resolve }))).rejects.toThrow('host resolves to a private or special-use address');
    expect(connections).toBe(before);
  });

  it('[MCP-CIMD-SSRF] refuses http except to loopback with private addresses allowed', async () => {
    const resolve = async () => [{ address: '93.184.216.34', family: 4 }];
    await expect(safeFetch(new URL('http://public.invalid/doc'), opts({ resolve }))).rejects.toThrow('only https URLs can be fetched');
    await expect(safeFetch(new URL('http://public.invalid/doc'), opts({ resolve, allowPrivateAddresses: true }))).rejects.toThrow('only https URLs can be fetched');
    await expect(safeFetch(new URL(`http://127.0.0.1:${port}/doc`), opts({}))).rejects.toThrow('private or special-use');
    await expect(safeFetch(new URL('file:///etc/passwd'), opts({}))).rejects.toThrow('only https URLs can be fetched');
  });

  it('[MCP-CIMD-SSRF] times out a slow DNS answer and never connects afterwards', async () => {
    const before = connections;
    const resolve = () => new Promise<{ address: string; family: number }[]>((r) => setTimeout(() => r([{ address: '127.0.0.1', family: 4 }]), 200));
    await expect(safeFetch(new URL(`http://slow-dns.invalid:${port}/doc`), opts({ allowPrivateAddresses: true, timeoutMs: 50, resolve }))).rejects.toThrow('timed out');
    await new Promise((r) => setTimeout(r, 300));
    expect(connections).toBe(before);
  });

  it('[MCP-CIMD-SSRF] reports an unresolvable host as a transient failure', async () => {
    await expect(safeFetch(new URL('https://nothing.invalid/doc'), opts({ resolve: async () => { throw new Error('ENOTFOUND'); } })))
      .rejects.toMatchObject({ message: 'host could not be resolved', transient: true });
  });
});

describe('metadata document cache lifetime', () => {
  const now = Date.parse('2026-11-21T12:00:00Z');
  it('[MCP-CIMD-CACHE] follows Cache-Control max-age, then Expires relative to Date, clamped to [60 s, max]', () => {
    expect(cacheLifetimeSeconds({ 'cache-control': 'public, max-age=600' }, now, 86400)).toBe(600);
    expect(cacheLifetimeSeconds({ 'cache-control': 'max-age="900"' }, now, 86400)).toBe(900);
    expect(cacheLifetimeSeconds({ 'cache-control': 'max-age=600', expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }, now, 86400)).toBe(600);
    expect(cacheLifetimeSeconds({ 'cache-control': 'max-age=10' }, now, 86400)).toBe(60);
    expect(cacheLifetimeSeconds({ 'cache-control': 'no-cache, max-age=600' }, now, 86400)).toBe(60);
    expect(cacheLifetimeSeconds({ 'cache-control': 'max-age=999999' }, now, 7200)).toBe(7200);
    expect(cacheLifetimeSeconds({ date: 'Sat, 21 Nov 2026 12:00:00 GMT', expires: 'Sat, 21 Nov 2026 12:30:00 GMT' }, now + 5_000, 86400)).toBe(1800);
    expect(cacheLifetimeSeconds({ expires: 'Sat, 21 Nov 2026 12:10:00 GMT' }, now, 86400)).toBe(600);
    expect(cacheLifetimeSeconds({ expires: 'garbage' }, now, 86400)).toBe(60);
    expect(cacheLifetimeSeconds({}, now, 86400)).toBe(3600);
    expect(cacheLifetimeSeconds({}, now, 120)).toBe(120);
  });
});
