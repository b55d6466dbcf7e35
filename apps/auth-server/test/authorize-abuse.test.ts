import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  Browser, authorizeUrl, decide, reachConsent, seedClient, seedUser, startAuthorization, submitLogin, validParams,
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
