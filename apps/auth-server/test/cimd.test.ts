import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { resolveCimdClient } from '../src/services/cimd.ts';
import { findClient, isCimdClientId } from '../src/services/clients.ts';
import { loadAuthConfig } from '../src/config.ts';
import { SHARED_REDIS_URL, uniquePrefix } from '../../../packages/redis/test/redis-server.ts';
import { startAuthServer, type TestAuthServer } from './helpers.ts';

interface Route {
  status?: number;
  headers?: Record<string, string>;
  /** The body, or a document built for this route's own URL. */
  body?: string | ((url: string) => unknown);
  delayMs?: number;
  /** Stream this many bytes in 1 KiB chunks without Content-Length. */
  streamBytes?: number;
  /** Send headers, then one byte every this many ms, never ending (slowloris). */
  trickleMs?: number;
  /** Never answer. */
  hold?: boolean;
  /** Answer once this settles. */
  gate?: Promise<unknown>;
}

/** A local HTTP server that serves client metadata documents and counts what reaches it. */
class DocServer {
  private server!: Server;
  base = '';
  readonly routes = new Map<string, Route>();
  readonly hits = new Map<string, number>();
  connections = 0;
  abortedResponses = 0;
  lastHost = '';
  /** Requests being answered now, and the most at once. */
  active = 0;
  maxActive = 0;
  /** The hostname URLs are built with (the server listens on 127.0.0.1 either way; `localhost` is another host to the limits). */
  readonly hostname: string;
  constructor(hostname = '127.0.0.1') {
    this.hostname = hostname;
  }

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = req.url ?? '/';
      this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
      this.lastHost = req.headers.host ?? '';
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      res.on('close', () => {
        this.active--;
        if (!res.writableFinished) this.abortedResponses++;
      });
      const route = this.routes.get(path);
      const send = () => {
        if (res.destroyed) return;
        if (!route) return res.writeHead(404).end();
        if (route.hold) return;
        if (route.trickleMs) {
          res.writeHead(200, { 'content-type': 'application/json' });
          const timer = setInterval(() => res.write(' '), route.trickleMs);
          res.on('close', () => clearInterval(timer));
          return;
        }
        if (route.streamBytes) {
          res.writeHead(200, { 'content-type': 'application/json', ...route.headers });
          let sent = 0;
          const tick = () => {
            if (res.destroyed) return;
            if (sent >= route.streamBytes!) return res.end();
            res.write(' '.repeat(1024));
            sent += 1024;
            setTimeout(tick, 1);
          };
          return tick();
        }
        const body = typeof route.body === 'function' ? JSON.stringify(route.body(this.url(path))) : route.body ?? '';
        res.writeHead(route.status ?? 200, { 'content-type': 'application/json', ...route.headers });
        res.end(body);
      };
      if (route?.gate) void route.gate.then(send);
      else if (route?.delayMs) setTimeout(send, route.delayMs);
      else send();
    });
    this.server.on('connection', () => { this.connections++; });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.base = `http://${this.hostname}:${(this.server.address() as AddressInfo).port}`;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  url(path: string): string {
    return `${this.base}${path}`;
  }

  hitsOf(path: string): number {
    return this.hits.get(path) ?? 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

const document = (extra: Record<string, unknown> = {}) => (url: string) => ({
  client_id: url,
  client_name: 'Doc Client',
  redirect_uris: ['http://127.0.0.1:5000/callback', 'https://doc-client.example/cb'],
  ...extra,
});

describe('Client ID Metadata Documents', () => {
  const docs = new DocServer();
  let s: TestAuthServer;
  let clock = Date.now();

  beforeAll(async () => {
    await docs.start();
    docs.routes.set('/valid.json', { body: document({ grant_types: ['authorization_code', 'refresh_token'], scope: 'db:read db:write other:scope', logo_uri: 'https://doc-client.example/logo.png' }), headers: { 'cache-control': 'public, max-age=300' } });
    docs.routes.set('/mismatch.json', { body: document({ client_id: 'https://elsewhere.example/client.json' }) });
    docs.routes.set('/no-name.json', { body: (url) => ({ client_id: url, redirect_uris: ['http://127.0.0.1:5000/cb'] }) });
    docs.routes.set('/no-redirects.json', { body: (url) => ({ client_id: url, client_name: 'x' }) });
    docs.routes.set('/no-client-id.json', { body: () => ({ client_name: 'x', redirect_uris: ['http://127.0.0.1:5000/cb'] }) });
    docs.routes.set('/bad-redirect.json', { body: document({ redirect_uris: ['http://evil.example/cb'] }) });
    docs.routes.set('/secret.json', { body: document({ token_endpoint_auth_method: 'client_secret_post' }) });
    docs.routes.set('/oversize.json', { body: document({ padding: 'x'.repeat(6000) }) });
    docs.routes.set('/oversize-stream.json', { streamBytes: 1024 * 1024 });
    docs.routes.set('/slow.json', { body: document(), delayMs: 2000 });
    docs.routes.set('/redirect.json', { status: 302, headers: { location: '/valid.json' } });
    docs.routes.set('/html.json', { body: document(), headers: { 'content-type': 'text/html' } });
    docs.routes.set('/broken.json', { body: '{"client_id": ' });
    docs.routes.set('/array.json', { body: '[]' });
    docs.routes.set('/not-found.json', { status: 404, body: '{}' });
    clock = Date.now();
    s = await startAuthServer({ CIMD_ALLOW_PRIVATE_ADDRESSES: 'true', CIMD_TIMEOUT_MS: '300', CIMD_MAX_CACHE_SECONDS: '3600' }, { now: () => clock });
  });
  afterAll(async () => {
    await s.close();
    await docs.stop();
  });

  const resolve = (path: string) => resolveCimdClient(s.app.ctx, docs.url(path), undefined);
  const rejection = async (path: string) => {
    try {
      await resolve(path);
    } catch (err) {
      return err as { code: string; description: string; status: number };
    }
    throw new Error(`expected ${path} to be refused`);
  };

  it('[MCP-CIMD-SUPPORT] [MCP-CIMD-REDIRECT] resolves a valid document into a public client whose redirect URIs come from the document', async () => {
    const client = await findClient(s.app.ctx, docs.url('/valid.json'));
    expect(client).toMatchObject({
      id: docs.url('/valid.json'),
      source: 'cimd',
      secretHash: null,
      clientName: 'Doc Client',
      redirectUris: ['http://127.0.0.1:5000/callback', 'https://doc-client.example/cb'],
      grantTypes: ['authorization_code', 'refresh_token'],
      tokenEndpointAuthMethod: 'none',
      applicationType: 'native',
      // Scopes this server does not know are ignored in a document written for many servers.
      scope: 'db:read db:write',
      revokedAt: null,
    });
    expect(client?.metadata).toMatchObject({ logo_uri: 'https://doc-client.example/logo.png' });
    expect(s.auditEvents().find((e) => e.event === 'client.metadata_fetched' && e.client === docs.url('/valid.json'))).toMatchObject({ client_name: 'Doc Client', decision: 'allow' });
  });

  it('[MCP-CIMD-CLIENT-ID-MATCH] refuses a document whose client_id differs from its URL, and audits the rejection', async () => {
    const err = await rejection('/mismatch.json');
    expect(err).toMatchObject({ code: 'invalid_client', status: 401, description: "client metadata document: 'client_id' does not match the document URL" });
    expect(s.auditEvents().find((e) => e.event === 'client.metadata_rejected' && e.client === docs.url('/mismatch.json'))).toMatchObject({ decision: 'deny', reason: err.description });
    expect(await s.sql('select count(*) as n from clients where id = ?', docs.url('/mismatch.json'))).toEqual([{ n: 0 }]);
  });

  it('[MCP-CIMD-REQUIRED-FIELDS] refuses documents that are not JSON objects or lack client_name or redirect_uris, naming what is wrong', async () => {
    const expected: [string, RegExp][] = [
      ['/no-name.json', /missing required field 'client_name'/],
      ['/no-redirects.json', /missing required field 'redirect_uris'/],
      ['/no-client-id.json', /missing required field 'client_id'/],
      ['/broken.json', /client metadata document is not valid JSON/],
      ['/array.json', /client metadata document: must be a JSON object/],
      ['/html.json', /content type must be application\/json/],
      ['/not-found.json', /could not be fetched: status 404/],
    ];
    for (const [path, description] of expected) {
      const err = await rejection(path);
      expect(err.code, path).toBe('invalid_client');
      expect(err.description, path).toMatch(description);
    }
  });

  it('[MCP-AS-REDIRECT-LOCALHOST-HTTPS] refuses a document with a non-https, non-loopback redirect URI', async () => {
    expect((await rejection('/bad-redirect.json')).description).toMatch(/^client metadata document: 'redirect_uris' must use https, or http on a loopback host/);
  });

  it('refuses a document that asks for a shared-secret authentication method', async () => {
    expect((await rejection('/secret.json')).description).toMatch(/'token_endpoint_auth_method' must be none/);
  });

  it('[MCP-CIMD-SSRF] refuses documents over CIMD_MAX_BYTES, whether declared or streamed, and stops reading', async () => {
    expect((await rejection('/oversize.json')).description).toBe('client metadata document could not be fetched: response is larger than 5120 bytes');
    const before = docs.abortedResponses;
    // Streaming the whole megabyte takes longer than CIMD_TIMEOUT_MS, so a reader that kept going would
    // fail with 'timed out': the size error shows it stopped at the limit, the abort that it hung up.
    expect((await rejection('/oversize-stream.json')).description).toMatch(/larger than 5120 bytes/);
    await waitFor('the oversize stream to be aborted', () => docs.abortedResponses > before);
  });

  it('[MCP-CIMD-SSRF] gives up after CIMD_TIMEOUT_MS', async () => {
    const before = docs.abortedResponses;
    // The document would come after 2 s; CIMD_TIMEOUT_MS is 300 ms: the server hangs up before it is sent.
    expect((await rejection('/slow.json')).description).toBe('client metadata document could not be fetched: timed out');
    await waitFor('the slow response to be abandoned', () => docs.abortedResponses > before);
  });

  it('[MCP-CIMD-SSRF] does not follow redirects', async () => {
    const validHits = docs.hitsOf('/valid.json');
    expect((await rejection('/redirect.json')).description).toBe('client metadata document could not be fetched: redirects are not followed');
    expect(docs.hitsOf('/valid.json')).toBe(validHits);
  });

  it('[MCP-CIMD-SSRF] checks the client_id URL shape before fetching anything', async () => {
    const before = docs.connections;
    for (const url of [`${docs.base}/a/../valid.json#x`, `http://user:pw@127.0.0.1:${docs.port}/valid.json`, `${docs.base}/`, `http://10.0.0.1:${docs.port}/valid.json`]) {
      await expect(resolveCimdClient(s.app.ctx, url, undefined), url).rejects.toMatchObject({ code: 'invalid_client' });
    }
    expect(docs.connections).toBe(before);
  });

  it('[MCP-CIMD-CACHE] serves a fresh cached copy without fetching, and fetches again after max-age', async () => {
    docs.routes.set('/cached.json', { body: document(), headers: { 'cache-control': 'max-age=300' } });
    const first = await resolve('/cached.json');
    expect(first?.metadataExpiresAt).toBe(clock + 300_000);
    clock += 299_000;
    await resolve('/cached.json');
    expect(docs.hitsOf('/cached.json')).toBe(1);
    clock += 2_000;
    docs.routes.set('/cached.json', { body: document({ client_name: 'Renamed', redirect_uris: ['https://new.example/cb'] }), headers: { 'cache-control': 'max-age=300' } });
    const second = await resolve('/cached.json');
    expect(docs.hitsOf('/cached.json')).toBe(2);
    expect(second).toMatchObject({ clientName: 'Renamed', redirectUris: ['https://new.example/cb'], createdAt: first!.createdAt, metadataExpiresAt: clock + 300_000 });
  });

  it('[MCP-CIMD-CACHE] honours Expires, treats no-store as the 60 s minimum and caps long lifetimes at CIMD_MAX_CACHE_SECONDS', async () => {
    const date = new Date(Math.floor(clock / 1000) * 1000);
    docs.routes.set('/expires.json', { body: document(), headers: { date: date.toUTCString(), expires: new Date(date.getTime() + 600_000).toUTCString() } });
    docs.routes.set('/no-store.json', { body: document(), headers: { 'cache-control': 'no-store' } });
    docs.routes.set('/long.json', { body: document(), headers: { 'cache-control': 'max-age=31536000' } });
    docs.routes.set('/no-headers.json', { body: document() });
    expect((await resolve('/expires.json'))?.metadataExpiresAt).toBe(clock + 600_000);
    expect((await resolve('/no-store.json'))?.metadataExpiresAt).toBe(clock + 60_000);
    expect((await resolve('/long.json'))?.metadataExpiresAt).toBe(clock + 3_600_000);
    expect((await resolve('/no-headers.json'))?.metadataExpiresAt).toBe(clock + 3_600_000);
  });

  it('[MCP-CIMD-CACHE] keeps serving a stale copy for up to an hour when a refetch fails transiently, never when the document became invalid', async () => {
    docs.routes.set('/flaky.json', { body: document(), headers: { 'cache-control': 'max-age=60' } });
    docs.routes.set('/turned-bad.json', { body: document(), headers: { 'cache-control': 'max-age=60' } });
    const cached = await resolve('/flaky.json');
    await resolve('/turned-bad.json');
    docs.routes.set('/flaky.json', { status: 503, body: '{}' });
    docs.routes.set('/turned-bad.json', { body: document({ client_id: 'https://elsewhere.example/c.json' }) });
    clock += 61_000;
    expect(await resolve('/flaky.json')).toEqual(cached);
    expect(docs.hitsOf('/flaky.json')).toBe(2);
    expect(s.auditEvents().filter((e) => e.event === 'client.metadata_rejected' && e.client === docs.url('/flaky.json')).at(-1)).toMatchObject({ decision: 'allow', reason: expect.stringMatching(/status 503 \(serving cached copy\)/) });
    expect((await rejection('/turned-bad.json')).description).toMatch(/'client_id' does not match/);
    clock += 3_600_000;
    expect((await rejection('/flaky.json')).description).toBe('client metadata document could not be fetched: status 503');
  });

  it('[MCP-CIMD-CACHE] coalesces concurrent resolutions of one URL into a single fetch', async () => {
    docs.routes.set('/busy.json', { body: document(), delayMs: 100 });
    const results = await Promise.all(Array.from({ length: 5 }, () => resolve('/busy.json')));
    expect(new Set(results.map((r) => r?.id))).toEqual(new Set([docs.url('/busy.json')]));
    expect(docs.hitsOf('/busy.json')).toBe(1);
  });

  it('does not fetch or return a client an operator revoked', async () => {
    docs.routes.set('/revoked.json', { body: document(), headers: { 'cache-control': 'max-age=60' } });
    await resolve('/revoked.json');
    await s.sql('update clients set revoked_at = ? where id = ?', clock, docs.url('/revoked.json'));
    clock += 120_000;
    expect(await findClient(s.app.ctx, docs.url('/revoked.json'))).toBeUndefined();
    expect(docs.hitsOf('/revoked.json')).toBe(1);
  });
});

describe('Client ID Metadata Documents with default settings', () => {
  const docs = new DocServer();
  let s: TestAuthServer;
  beforeEach(async () => {
    await docs.start();
    docs.routes.set('/valid.json', { body: document() });
    s = await startAuthServer();
  });
  afterEach(async () => {
    await s.close();
    await docs.stop();
  });

  it('[MCP-CIMD-SSRF] [HARD-CIMD-NEGATIVE-CACHE] refuses loopback and private addresses (literal, mapped or resolved by name) before connecting, and remembers the refusal', async () => {
    const urls = [
      `https://127.0.0.1:${docs.port}/valid.json`,
      `https://localhost:${docs.port}/valid.json`,
      `https://[::1]:${docs.port}/valid.json`,
      `https://[::ffff:127.0.0.1]:${docs.port}/valid.json`,
      'https://10.1.2.3/valid.json',
      'https://169.254.169.254/latest/meta-data',
    ];
    for (const url of urls) {
      await expect(findClient(s.app.ctx, url), url).rejects.toMatchObject({
        code: 'invalid_client',
        description: 'client metadata document could not be fetched: host resolves to a private or special-use address',
      });
    }
    expect(docs.connections).toBe(0);
    expect(s.auditEvents().filter((e) => e.event === 'client.metadata_rejected').length).toBe(urls.length);
    // Asked again, the refusals come from memory: no new lookup, no new audit line.
    for (const url of urls) await expect(findClient(s.app.ctx, url), url).rejects.toMatchObject({ code: 'invalid_client' });
    expect(s.auditEvents().filter((e) => e.event === 'client.metadata_rejected').length).toBe(urls.length);
  });

  it('[MCP-CIMD-SSRF] does not treat an http client_id as a metadata document URL', async () => {
    const url = docs.url('/valid.json');
    expect(isCimdClientId(url)).toBe(false);
    expect(isCimdClientId(url, true)).toBe(true);
    expect(await findClient(s.app.ctx, url)).toBeUndefined();
    await expect(resolveCimdClient(s.app.ctx, url, undefined)).rejects.toMatchObject({ description: "'client_id' URL must use https" });
    expect(docs.connections).toBe(0);
  });

  it('does not resolve documents when CIMD_ENABLED is false', async () => {
    await using off = await startAuthServer({ CIMD_ENABLED: 'false', CIMD_ALLOW_PRIVATE_ADDRESSES: 'true' });
    expect(await findClient(off.app.ctx, docs.url('/valid.json'))).toBeUndefined();
    expect(docs.connections).toBe(0);
  });
});

const settle = async <T,>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: { code: string; description: string; status: number; retryAfter?: number } }> => {
  try {
    return { ok: true, value: await p };
  } catch (error) {
    return { ok: false, error: error as { code: string; description: string; status: number; retryAfter?: number } };
  }
};

const waitFor = async (what: string, cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('Client ID Metadata Document fetch limits', () => {
  const docs = new DocServer();
  // The same server named `localhost`: another document host to the limits.
  const other = new DocServer('localhost');
  let s: TestAuthServer;
  let clock = Date.now();

  beforeAll(async () => {
    await docs.start();
    await other.start();
    other.routes.set('/valid.json', { body: document() });
    clock = Date.now();
    s = await startAuthServer({
      CIMD_ALLOW_PRIVATE_ADDRESSES: 'true',
      CIMD_TIMEOUT_MS: '1500',
      CIMD_QUEUE_WAIT_MS: '1000',
      CIMD_FETCHES_PER_ADDRESS_PER_MINUTE: '3',
      CIMD_HOSTS_PER_ADDRESS_PER_HOUR: '1',
    }, { now: () => clock });
  });
  afterAll(async () => {
    await s.close();
    await docs.stop();
    await other.stop();
  });

  const resolveFrom = (address: string | undefined, url: string) => resolveCimdClient(s.app.ctx, url, address);

  it('[HARD-CIMD-NEGATIVE-CACHE] remembers a failed fetch per URL for CIMD_FAILURE_CACHE_SECONDS, then picks up the fixed document', async () => {
    docs.routes.set('/missing.json', { status: 404, body: '{}' });
    docs.routes.set('/late.json', { body: document(), delayMs: 2000 });
    for (let i = 0; i < 3; i++) {
      const r = await settle(resolveFrom(undefined, docs.url('/missing.json')));
      expect(r).toMatchObject({ ok: false, error: { code: 'invalid_client', description: 'client metadata document could not be fetched: status 404' } });
      expect((await settle(resolveFrom(undefined, docs.url('/late.json')))).ok).toBe(false);
    }
    expect(docs.hitsOf('/missing.json')).toBe(1);
    expect(docs.hitsOf('/late.json')).toBe(1);
    // Repeats are answered from memory: audited once, not once per request.
    expect(s.auditEvents().filter((e) => e.event === 'client.metadata_rejected' && e.client === docs.url('/missing.json'))).toHaveLength(1);

    docs.routes.set('/missing.json', { body: document() });
    clock += 59_000;
    expect((await settle(resolveFrom(undefined, docs.url('/missing.json')))).ok).toBe(false);
    expect(docs.hitsOf('/missing.json')).toBe(1);
    clock += 2_000;
    expect(await resolveFrom(undefined, docs.url('/missing.json'))).toMatchObject({ id: docs.url('/missing.json'), clientName: 'Doc Client' });
    expect(docs.hitsOf('/missing.json')).toBe(2);
  });

  it('[HARD-CIMD-HOST-LIMIT] fetches at most two documents at once from one host; the others wait for a slot, and other hosts are not held up', async () => {
    docs.maxActive = 0;
    let open!: () => void;
    const gate = new Promise<void>((r) => { open = r; });
    for (let i = 0; i < 5; i++) docs.routes.set(`/queued-${i}.json`, { body: document(), gate });
    const queued = Array.from({ length: 5 }, (_, i) => resolveFrom(undefined, docs.url(`/queued-${i}.json`)));
    await waitFor('two fetches in flight', () => docs.active === 2);
    // The other three reach the slot queue once the store has answered their lookups, which on
    // PostgreSQL can come after the first two fetches started.
    await waitFor('three waiting for a slot', () => s.app.ctx.cimd.slots.state('127.0.0.1').waiting === 3);
    expect(s.app.ctx.cimd.slots.state('127.0.0.1')).toEqual({ active: 2, waiting: 3 });
    // Meanwhile a document on another host is fetched at once.
    expect(await resolveFrom(undefined, other.url('/valid.json'))).toMatchObject({ id: other.url('/valid.json') });
    expect(docs.active).toBe(2);
    open();
    const results = await Promise.all(queued);
    expect(results.map((r) => r?.id)).toEqual(Array.from({ length: 5 }, (_, i) => docs.url(`/queued-${i}.json`)));
    expect(docs.maxActive).toBe(2);
  });

  it('[HARD-CIMD-HOST-LIMIT] answers 503 with Retry-After only when no slot came free within CIMD_QUEUE_WAIT_MS', async () => {
    // Its own server: the refusal (after the 500 ms wait) must come well before the held fetches time
    // out (3 s), with a margin that a loaded machine (or a slow database round trip before the wait
    // starts) cannot close.
    const c = await startAuthServer({ CIMD_ALLOW_PRIVATE_ADDRESSES: 'true', CIMD_TIMEOUT_MS: '3000', CIMD_QUEUE_WAIT_MS: '500' });
    try {
      for (let i = 0; i < 3; i++) docs.routes.set(`/hold-${i}.json`, { hold: true });
      const order: number[] = [];
      const all = [0, 1, 2].map((i) => settle(resolveCimdClient(c.app.ctx, docs.url(`/hold-${i}.json`), undefined)).finally(() => order.push(i)));
      const results = await Promise.all(all);
      // Which of the three reaches the slot queue last depends on the store's lookups (PostgreSQL
      // answers them in any order): exactly one waited, and it was refused while the two held
      // fetches were still running, without a fetch of its own.
      const refused = results.findIndex((r) => !r.ok && r.error.code === 'temporarily_unavailable');
      expect(refused).toBeGreaterThanOrEqual(0);
      expect(order[0]).toBe(refused);
      expect(results[refused]).toMatchObject({ ok: false, error: { code: 'temporarily_unavailable', status: 503, retryAfter: 5 } });
      for (const r of results.filter((_, i) => i !== refused)) expect(r).toMatchObject({ ok: false, error: { description: 'client metadata document could not be fetched: timed out' } });
      expect(docs.hitsOf(`/hold-${refused}.json`)).toBe(0);
      expect(c.app.ctx.cimd.slots.state()).toEqual({ active: 0, waiting: 0 });
    } finally {
      await c.close();
    }
  });

  it('[HARD-CIMD-DEADLINE] cuts off a document trickling bytes at CIMD_TIMEOUT_MS and gives its slot back', async () => {
    docs.routes.set('/trickle.json', { trickleMs: 50 });
    const aborted = docs.abortedResponses;
    const r = await settle(resolveFrom(undefined, docs.url('/trickle.json')));
    expect(r).toMatchObject({ ok: false, error: { description: 'client metadata document could not be fetched: timed out' } });
    expect(s.app.ctx.cimd.slots.state('127.0.0.1')).toEqual({ active: 0, waiting: 0 });
    await waitFor('the trickling response to be cut', () => docs.abortedResponses > aborted);
  });

  it('[HARD-CIMD-DEADLINE] ends fetches in flight when the app closes instead of at their deadline', async () => {
    const c = await startAuthServer({ CIMD_ALLOW_PRIVATE_ADDRESSES: 'true', CIMD_TIMEOUT_MS: '10000' });
    docs.routes.set('/closing.json', { hold: true });
    const pending = settle(resolveCimdClient(c.app.ctx, docs.url('/closing.json'), undefined));
    await waitFor('the fetch to start', () => docs.hitsOf('/closing.json') === 1);
    await c.close();
    expect(await pending).toMatchObject({ ok: false, error: { description: 'client metadata document could not be fetched: cancelled' } });
  });

  it('[HARD-CIMD-ADDRESS-LIMIT] counts new fetches per client address (an IPv6 /64 is one): past the budget 429 without a fetch, cached documents stay free', async () => {
    const [v6a, v6b] = ['2001:db8:1:2::1', '2001:db8:1:2:abcd::9'];
    for (let i = 0; i < 5; i++) docs.routes.set(`/a-${i}.json`, { body: document() });
    await resolveFrom(v6a, docs.url('/a-0.json'));
    await resolveFrom(v6b, docs.url('/a-1.json'));
    await resolveFrom(v6a, docs.url('/a-2.json'));
    const refused = await settle(resolveFrom(v6b, docs.url('/a-3.json')));
    expect(refused).toMatchObject({ ok: false, error: { code: 'rate_limited', status: 429 } });
    expect(refused.ok === false && refused.error.retryAfter).toBeGreaterThan(0);
    expect(docs.hitsOf('/a-3.json')).toBe(0);
    // A cached document costs nothing; another address has its own budget.
    expect(await resolveFrom(v6b, docs.url('/a-0.json'))).toMatchObject({ id: docs.url('/a-0.json') });
    expect(docs.hitsOf('/a-0.json')).toBe(1);
    expect(await resolveFrom('192.0.2.7', docs.url('/a-3.json'))).toMatchObject({ id: docs.url('/a-3.json') });
  });

  it('[HARD-CIMD-ADDRESS-LIMIT] limits the distinct hosts one address can make the server fetch from', async () => {
    other.routes.set('/second-host.json', { body: document() });
    docs.routes.set('/first-host.json', { body: document() });
    await resolveFrom('192.0.2.8', docs.url('/first-host.json'));
    // CIMD_HOSTS_PER_ADDRESS_PER_HOUR=1: a second host is refused, the first one still fetched.
    expect(await settle(resolveFrom('192.0.2.8', other.url('/second-host.json')))).toMatchObject({ ok: false, error: { code: 'rate_limited' } });
    expect(other.hitsOf('/second-host.json')).toBe(0);
    docs.routes.set('/first-host-2.json', { body: document() });
    expect(await resolveFrom('192.0.2.8', docs.url('/first-host-2.json'))).toMatchObject({ id: docs.url('/first-host-2.json') });
    expect(await resolveFrom('192.0.2.9', other.url('/second-host.json'))).toMatchObject({ id: other.url('/second-host.json') });
  });

  it('[HARD-CIMD-HOST-LIMIT] limits fetches per host per minute, serving a still-usable stale copy instead of refusing', async () => {
    let hclock = Date.now();
    await using h = await startAuthServer({ CIMD_ALLOW_PRIVATE_ADDRESSES: 'true', CIMD_FETCHES_PER_HOST_PER_MINUTE: '2' }, { now: () => hclock });
    for (const p of ['/h-0.json', '/h-1.json', '/h-2.json']) docs.routes.set(p, { body: document(), headers: { 'cache-control': 'max-age=60' } });
    await resolveCimdClient(h.app.ctx, docs.url('/h-0.json'), '192.0.2.20');
    await resolveCimdClient(h.app.ctx, docs.url('/h-1.json'), '192.0.2.21');
    await expect(resolveCimdClient(h.app.ctx, docs.url('/h-2.json'), '192.0.2.22')).rejects.toMatchObject({ code: 'temporarily_unavailable', status: 503 });
    expect(docs.hitsOf('/h-2.json')).toBe(0);
    hclock += 61_000;
    expect(await resolveCimdClient(h.app.ctx, docs.url('/h-0.json'), '192.0.2.23')).toMatchObject({ id: docs.url('/h-0.json') });
    expect(docs.hitsOf('/h-0.json')).toBe(1);
  });

  it('[HARD-CIMD-ADDRESS-LIMIT] counts the fetches a token request triggers against the requesting address too', async () => {
    for (let i = 0; i < 4; i++) docs.routes.set(`/t-${i}.json`, { body: document() });
    const token = (i: number) => s.app.inject({
      method: 'POST', url: '/token', remoteAddress: '192.0.2.30',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ grant_type: 'authorization_code', code: 'not-a-code', redirect_uri: 'http://127.0.0.1:5000/callback', code_verifier: 'v'.repeat(43), client_id: docs.url(`/t-${i}.json`) }).toString(),
    });
    // Each document is fetched and the client authenticates (the made-up code is then refused).
    for (let i = 0; i < 3; i++) expect((await token(i)).json()).toMatchObject({ error: 'invalid_grant' });
    const refused = await token(3);
    expect(refused.statusCode).toBe(429);
    expect(refused.json()).toMatchObject({ error: 'rate_limited' });
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    expect(docs.hitsOf('/t-3.json')).toBe(0);
  });

  it('[HARD-CIMD-ALLOWED-HOSTS] fetches only from the hosts CIMD_ALLOWED_HOSTS lists, when set', async () => {
    await using a = await startAuthServer({ CIMD_ALLOW_PRIVATE_ADDRESSES: 'true', CIMD_ALLOWED_HOSTS: 'localhost, *.example.com' });
    docs.routes.set('/not-listed.json', { body: document() });
    await expect(resolveCimdClient(a.app.ctx, docs.url('/not-listed.json'), undefined)).rejects.toMatchObject({
      code: 'invalid_client', description: 'client metadata documents from this host are not accepted by this server',
    });
    expect(docs.hitsOf('/not-listed.json')).toBe(0);
    expect(await resolveCimdClient(a.app.ctx, other.url('/valid.json'), undefined)).toMatchObject({ id: other.url('/valid.json') });
    expect(() => a.app.ctx.cimd.checkHost(new URL('https://mcp.example.com/client.json'))).not.toThrow();
    for (const u of ['https://example.com/client.json', 'https://badexample.com/client.json']) expect(() => a.app.ctx.cimd.checkHost(new URL(u)), u).toThrow();
    expect(() => loadAuthConfig({ CIMD_ALLOWED_HOSTS: 'https://example.com/' })).toThrow(/CIMD_ALLOWED_HOSTS/);
    expect(loadAuthConfig({ CIMD_ALLOWED_HOSTS: ' Example.org ,*.example.com' }).cimd.allowedHosts).toEqual(['example.org', '*.example.com']);
  });
});

describe('Client ID Metadata Document fetch limits with REDIS_URL', () => {
  const docs = new DocServer();
  const other = new DocServer('localhost');
  let a: TestAuthServer;
  let b: TestAuthServer;

  beforeAll(async () => {
    await docs.start();
    await other.start();
    const env = {
      REDIS_URL: SHARED_REDIS_URL,
      REDIS_KEY_PREFIX: uniquePrefix('auth-cimd'),
      CIMD_ALLOW_PRIVATE_ADDRESSES: 'true',
      CIMD_FETCHES_PER_ADDRESS_PER_MINUTE: '2',
      CIMD_HOSTS_PER_ADDRESS_PER_HOUR: '1',
    };
    [a, b] = [await startAuthServer(env), await startAuthServer(env)];
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
    await docs.stop();
    await other.stop();
  });

  it('[HARD-CIMD-ADDRESS-LIMIT] [SCALE-REDIS-ABUSE-LIMITS] one address\'s fetch and distinct-host budgets hold across instances sharing Redis', async () => {
    for (let i = 0; i < 3; i++) docs.routes.set(`/r-${i}.json`, { body: document() });
    other.routes.set('/r-other.json', { body: document() });
    await resolveCimdClient(a.app.ctx, docs.url('/r-0.json'), '192.0.2.40');
    // The second host is refused on the other instance: the first was seen through Redis.
    await expect(resolveCimdClient(b.app.ctx, other.url('/r-other.json'), '192.0.2.40')).rejects.toMatchObject({ code: 'rate_limited' });
    expect(other.hitsOf('/r-other.json')).toBe(0);
    await resolveCimdClient(b.app.ctx, docs.url('/r-1.json'), '192.0.2.40');
    await expect(resolveCimdClient(a.app.ctx, docs.url('/r-2.json'), '192.0.2.40')).rejects.toMatchObject({ code: 'rate_limited', status: 429 });
    expect(docs.hitsOf('/r-2.json')).toBe(0);
  });
});
