import { createServer, request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  Browser, RESOURCE, authorizeUrl, decide, pkce, reachConsent, seedClient, seedUser, startAuthorization, submitLogin, validParams,
} from './authorize-flow.ts';

const EVIL = 'https://evil.example/landing';

/** GET from another loopback address (127.0.0.x is all loopback on Linux): another person's network. */
function getFrom(localAddress: string, url: string): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { localAddress }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode!, retryAfter: res.headers['retry-after'] }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** The link target of the "Return to the application" button on an error page. */
function returnLink(html: string): URL {
  const href = /<a class="button" href="([^"]+)">Return to the application<\/a>/.exec(html)?.[1];
  expect(href).toBeDefined();
  return new URL(href!.replaceAll('&amp;', '&'));
}

describe('[RFC9700-AS-OPEN-REDIRECTOR] error redirects for clients whose redirect URIs anyone could choose', () => {
  let s: TestAuthServer;
  let dcr: string;

  beforeAll(async () => {
    s = await startAuthServer();
    const reg = await fetch(`${s.url}/register`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [EVIL], token_endpoint_auth_method: 'none', client_name: 'x' }),
    });
    expect(reg.status).toBe(201);
    dcr = ((await reg.json()) as { client_id: string }).client_id;
  });
  afterAll(async () => { await s.close(); });

  it('[RFC9700-AS-OPEN-REDIRECTOR] shows a broken request of a registered (DCR) or metadata-document client on our page with a link, never an automatic redirect', async () => {
    const cimd = await seedClient(s, { source: 'cimd', redirectUris: [EVIL] });
    for (const clientId of [dcr, cimd.id]) {
      const res = await fetch(`${s.url}/authorize?client_id=${encodeURIComponent(clientId)}&response_type=x&state=s1`, { redirect: 'manual' });
      expect(res.status, clientId).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      const html = await res.text();
      expect(html).toContain('This application cannot sign you in');
      expect(html).toContain('evil.example');
      // The person may still go back, by choice: the link carries the error response (RFC 6749 §4.1.2.1, RFC 9207).
      const link = returnLink(html);
      expect(`${link.origin}${link.pathname}`).toBe(EVIL);
      expect(link.searchParams.get('error')).toBe('unsupported_response_type');
      expect(link.searchParams.get('state')).toBe('s1');
      expect(link.searchParams.get('iss')).toBe(s.config.issuer);
    }
    expect(s.auditEvents().some((e) => e.event === 'authorize.error' && e.client === dcr && e.decision === 'deny')).toBe(true);
  });

  it('[RFC9700-AS-OPEN-REDIRECTOR] keeps automatic error redirects for operator-registered clients', async () => {
    const admin = await seedClient(s, { redirectUris: ['https://app.example.com/callback'] });
    const res = await fetch(`${s.url}/authorize?client_id=${admin.id}&response_type=x`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^https:\/\/app\.example\.com\/callback\?error=unsupported_response_type/);
  });

  it('[RFC9700-AS-OPEN-REDIRECTOR] redirects once the person has interacted: Deny, or a role that allows nothing after the login form', async () => {
    const dev = await seedUser(s, 'developer');
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(dcr, EVIL, { scope: 'db:read' })), dev.email);
    const denied = await decide(b, html, 'deny');
    expect(denied.status).toBe(303);
    expect(new URL(denied.headers.get('location')!).searchParams.get('error')).toBe('access_denied');

    const viewer = await seedUser(s, 'viewer');
    const b2 = new Browser(s.url);
    const { html: login } = await startAuthorization(b2, authorizeUrl(s, validParams(dcr, EVIL, { scope: 'db:admin' })));
    const after = await submitLogin(b2, login, viewer.email);
    expect(after.status).toBe(303);
    expect(new URL(after.headers.get('location')!).searchParams.get('error')).toBe('access_denied');

    // The same browser, now with a session, asks again: no form in between, so our page, not a redirect.
    const again = await b2.get(authorizeUrl(s, validParams(dcr, EVIL, { scope: 'db:admin' })));
    expect(again.status).toBe(400);
    expect(again.headers.get('location')).toBeNull();
    expect(returnLink(await again.text()).searchParams.get('error')).toBe('access_denied');
  });
});

describe('[AUTH-PENDING-FLOOD] a flood of GET /authorize', () => {
  let s: TestAuthServer;
  let client: { id: string; redirectUris: string[] };

  beforeAll(async () => {
    s = await startAuthServer({ AUTHORIZE_RATE_LIMIT_PER_MINUTE: '10', AUTHORIZE_MAX_PENDING: '15' });
    client = await seedClient(s);
  });
  afterAll(async () => { await s.close(); });

  it('[AUTH-PENDING-FLOOD] [HARD-PENDING-PER-ADDRESS] limits new sign-ins per address and, when the store is full, makes room from the heaviest address: nobody is refused and the victim\'s survives', async () => {
    const user = await seedUser(s, 'viewer');
    const url = authorizeUrl(s, validParams(client.id, client.redirectUris[0]!));
    const victim = new Browser(s.url);
    const { html } = await startAuthorization(victim, url);

    // One attacking address: 10 pending requests a minute, then 429 with Retry-After.
    const first = await Promise.all(Array.from({ length: 30 }, () => getFrom('127.0.0.2', url)));
    expect(first.filter((r) => r.status === 303)).toHaveLength(10);
    expect(first.filter((r) => r.status === 429)).toHaveLength(20);
    const limited = await getFrom('127.0.0.2', url);
    expect(limited.status).toBe(429);
    expect(Number(limited.retryAfter)).toBeGreaterThan(0);

    // Another address fills the store (15 in all). This used to refuse every further sign-in with 503
    // (a full store refused everyone); now the oldest of the address holding the most makes room.
    const second = await Promise.all(Array.from({ length: 10 }, () => getFrom('127.0.0.3', url)));
    expect(second.every((r) => r.status === 303)).toBe(true);
    const full = await new Browser(s.url).get(url);
    expect(full.status).toBe(303);
    expect((await s.sql<{ n: number }>('select count(*) as n from pending_authorizations'))[0]!.n).toBe(15);

    // The victim, who started before the flood, still signs in.
    const res = await submitLogin(victim, html, user.email);
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^consent\?request=/);
  });
});

/** A document host that accepts requests and never answers them: a slow (slowloris) client metadata document. */
async function startHoldingServer(): Promise<{ port: number; open: () => number; maxOpen: () => number; requests: () => number; close: () => Promise<void> }> {
  let open = 0;
  let maxOpen = 0;
  let requests = 0;
  const server = createServer((req, res) => {
    requests++;
    open++;
    maxOpen = Math.max(maxOpen, open);
    res.on('close', () => { open--; });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => open,
    maxOpen: () => maxOpen,
    requests: () => requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Serves one valid client metadata document, named through `localhost` (another host than 127.0.0.1). */
async function startDocumentServer(path: string, redirectUri: string): Promise<{ clientId: string; close: () => Promise<void> }> {
  let clientId = '';
  const server = createServer((req, res) => {
    if (req.url !== path) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ client_id: clientId, client_name: 'Legit MCP Client', redirect_uris: [redirectUri] }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  clientId = `http://localhost:${(server.address() as AddressInfo).port}${path}`;
  return {
    clientId,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

const waitFor = async (what: string, cond: () => boolean) => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('[HARD-CIMD-SLOW-HOST] a slow metadata document flood from one address', () => {
  let s: TestAuthServer;
  let slow: Awaited<ReturnType<typeof startHoldingServer>>;
  let legit: Awaited<ReturnType<typeof startDocumentServer>>;
  const REDIRECT = 'http://127.0.0.1:5000/callback';

  beforeAll(async () => {
    slow = await startHoldingServer();
    legit = await startDocumentServer('/client.json', REDIRECT);
    s = await startAuthServer({ CIMD_ALLOW_PRIVATE_ADDRESSES: 'true', CIMD_TIMEOUT_MS: '2000', CIMD_QUEUE_WAIT_MS: '1000' });
  });
  afterAll(async () => {
    await s.close();
    await slow.close();
    await legit.close();
  });

  it('[HARD-CIMD-SLOW-HOST] [HARD-CIMD-ADDRESS-LIMIT] lets a legitimate metadata-document client sign in while one address floods /authorize with slow documents', async () => {
    const user = await seedUser(s, 'developer');
    // 40 new client_ids on a host that never answers, all from one address. Before the limits, 16 of
    // them held every fetch slot for the whole timeout and everyone else's CIMD sign-in got 503.
    const attack = Array.from({ length: 40 }, (_, i) =>
      getFrom('127.0.0.2', authorizeUrl(s, validParams(`http://127.0.0.1:${slow.port}/attack-${i}.json`, REDIRECT))));
    await waitFor('the slow host to hold connections', () => slow.open() >= 2);
    await new Promise((r) => setTimeout(r, 300));

    const { verifier, challenge } = pkce();
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(legit.clientId, REDIRECT, { code_challenge: challenge })), user.email);
    const allowed = await decide(b, html, 'allow');
    expect(allowed.status).toBe(303);
    const code = new URL(allowed.headers.get('location')!).searchParams.get('code');
    expect(code).toBeTruthy();
    const token = await fetch(`${s.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT, code_verifier: verifier, client_id: legit.clientId, resource: RESOURCE }).toString(),
    });
    expect(token.status).toBe(200);
    expect(await token.json()).toMatchObject({ token_type: 'Bearer', access_token: expect.any(String) });
    // The attack was still under way: the slow host's connections were open while the legitimate client signed in.
    expect(slow.open()).toBeGreaterThan(0);

    const results = await Promise.all(attack);
    // One address: 10 new documents a minute (CIMD_FETCHES_PER_ADDRESS_PER_MINUTE), the rest refused
    // on a page with Retry-After, without a fetch and never redirected.
    const statuses = results.map((r) => r.status);
    expect(statuses.filter((st) => st === 429)).toHaveLength(30);
    expect(results.filter((r) => r.status === 429).every((r) => Number(r.retryAfter) > 0)).toBe(true);
    expect(slow.requests()).toBeLessThanOrEqual(10);
    // One host: two fetches at once; the queued ones waited and then got 503, the fetched ones timed out.
    expect(slow.maxOpen()).toBe(2);
    expect(statuses.filter((st) => st !== 429).every((st) => st === 400 || st === 503)).toBe(true);
  });
});
