import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tokenHash } from '@stack/crypto';
import { startAuthServer, type TestAuthServer } from './helpers.ts';
import {
  Browser, RESOURCE, authorizeUrl, decide, hidden, reachConsent, seedClient, seedUser, startAuthorization, submitLogin, validParams,
} from './authorize-flow.ts';

async function codeRow(s: TestAuthServer, code: string): Promise<Record<string, unknown> | undefined> {
  return (await s.sql('select * from authorization_codes where code_hash = ?', tokenHash(code)))[0];
}

describe('consent page', () => {
  let s: TestAuthServer;
  let web: { id: string; redirectUris: string[] };
  let admin: { email: string; id: string };
  let viewer: { email: string; id: string };

  beforeAll(async () => {
    s = await startAuthServer();
    web = await seedClient(s, { name: 'Acme Notes', redirectUris: ['https://notes.acme.example/oauth/callback'] });
    admin = await seedUser(s, 'admin');
    viewer = await seedUser(s, 'viewer');
  });
  afterAll(async () => { await s.close(); });

  it('[HARD-DISPLAY-BIDI] a client name with bidirectional-text controls cannot reorder the consent page: they show as U+FFFD', async () => {
    const spoof = await seedClient(s, { name: 'Acme \u202Eelpmaxe.live\u2066 <b>', redirectUris: ['https://spoof.acme.example/cb'] });
    const b = new Browser(s.url);
    const { html, res } = await reachConsent(b, authorizeUrl(s, validParams(spoof.id, spoof.redirectUris[0]!)), admin.email);
    expect(res.status).toBe(200);
    expect(html).toContain('Allow Acme \uFFFDelpmaxe.live\uFFFD &lt;b&gt; to use your account?');
    expect(html).not.toMatch(/[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/);
  });

  it('[MCP-CIMD-DISPLAY-HOST] [RFC9700-CLICKJACKING] names the client, shows the redirect host, lists each scope in words, and allows only its own and the redirect origin as form targets', async () => {
    const b = new Browser(s.url);
    const { html, res } = await reachConsent(b, authorizeUrl(s, validParams(web.id, web.redirectUris[0]!, { scope: 'db:read db:write' })), admin.email);
    expect(res.status).toBe(200);
    expect(html).toContain('Allow Acme Notes to use your account?');
    expect(html).toContain('<dd class="host">notes.acme.example</dd>');
    expect(html).toContain('Read data: list tables, describe them and run read-only queries');
    expect(html).toContain('Change data: run SQL statements that insert, update or delete rows');
    expect(html).not.toContain('Administer the database');
    expect(html).not.toContain('runs on your own computer');
    expect(html).toContain('<button type="submit" name="decision" value="allow">');
    expect(html).toContain('name="decision" value="deny"');
    expect(hidden(html, '_csrf').length).toBeGreaterThan(10);
    expect(res.headers.get('content-security-policy')).toBe(
      "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https://notes.acme.example; frame-ancestors 'none'; base-uri 'none'",
    );
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('[MCP-CIMD-LOCALHOST-WARN] warns when the application receives the result on a loopback address', async () => {
    const cli = await seedClient(s, { name: 'CLI Tool', redirectUris: ['http://127.0.0.1/callback'] });
    const b = new Browser(s.url);
    const { html, res } = await reachConsent(b, authorizeUrl(s, validParams(cli.id, 'http://127.0.0.1:41234/callback')), admin.email);
    expect(html).toContain('This application runs on your own computer');
    expect(html).toContain('<dd class="host">127.0.0.1:41234</dd>');
    expect(res.headers.get('content-security-policy')).toContain("form-action 'self' http://127.0.0.1:41234;");
  });

  it('narrows the scopes by role: a viewer asking for db:write gets only db:read', async () => {
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(web.id, web.redirectUris[0]!, { scope: 'db:read db:write db:admin' })), viewer.email);
    expect(html).toContain('Read data');
    expect(html).not.toContain('Change data');
    const res = await decide(b, html, 'allow');
    const code = new URL(res.headers.get('location')!).searchParams.get('code')!;
    expect(await codeRow(s, code)).toMatchObject({ scope: 'db:read', client_id: web.id, user_id: viewer.id });
  });

  it('ends in access_denied when the role allows none of the requested scopes', async () => {
    const b = new Browser(s.url);
    const { html } = await startAuthorization(b, authorizeUrl(s, validParams(web.id, web.redirectUris[0]!, { scope: 'db:write db:admin' })));
    const res = await submitLogin(b, html, viewer.email);
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location')!);
    expect(loc.origin).toBe('https://notes.acme.example');
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('error_description')).toBe('your role does not allow any of the requested scopes');
    expect(loc.searchParams.get('state')).toBe('st-123/+=?&x');
    expect(loc.searchParams.get('iss')).toBe(s.config.issuer);
  });

  it('[OAUTH21-STATE] [MCP-AS-ISS-RESPONSE] deny redirects with access_denied, state and iss, and issues no code', async () => {
    const denier = await seedUser(s, 'developer');
    const b = new Browser(s.url);
    const codes = async () => (await s.sql<{ n: number }>('select count(*) as n from authorization_codes'))[0]!.n;
    const before = await codes();
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(web.id, web.redirectUris[0]!)), denier.email);
    const res = await decide(b, html, 'deny');
    expect(res.status).toBe(303);
    const loc = new URL(res.headers.get('location')!);
    expect(`${loc.origin}${loc.pathname}`).toBe(web.redirectUris[0]);
    expect(loc.searchParams.get('error')).toBe('access_denied');
    expect(loc.searchParams.get('state')).toBe('st-123/+=?&x');
    expect(loc.searchParams.get('iss')).toBe(s.config.issuer);
    expect(loc.searchParams.has('code')).toBe(false);
    expect(await codes()).toBe(before);
    expect(s.auditEvents().some((e) => e.event === 'consent.denied' && e.user === denier.id)).toBe(true);
    // The request is single use: submitting the form again shows an expiry page.
    const again = await decide(b, html, 'deny');
    expect(again.status).toBe(400);
    expect(again.headers.get('location')).toBeNull();
  });

  it('[RFC8252-NO-AUTO-APPROVE] remembers consent for a confidential client with an https redirect: the same client, user, resource and a subset of scopes skip the screen; more scopes ask again', async () => {
    const conf = await seedClient(s, { name: 'Acme Server', redirectUris: ['https://server.acme.example/oauth/callback'], confidential: true });
    const dev = await seedUser(s, 'developer');
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(conf.id, conf.redirectUris[0]!, { scope: 'db:read db:write' })), dev.email);
    expect((await decide(b, html, 'allow')).status).toBe(303);
    expect(s.auditEvents().some((e) => e.event === 'consent.granted' && e.user === dev.id && e.scope === 'db:read db:write')).toBe(true);

    // Same browser (live session): /authorize answers straight away with a code.
    const direct = await b.get(authorizeUrl(s, validParams(conf.id, conf.redirectUris[0]!, { scope: 'db:read', state: 'again' })));
    expect(direct.status).toBe(302);
    const loc = new URL(direct.headers.get('location')!);
    expect(loc.searchParams.get('state')).toBe('again');
    expect(loc.searchParams.get('iss')).toBe(s.config.issuer);
    expect(await codeRow(s, loc.searchParams.get('code')!)).toMatchObject({ scope: 'db:read', resource: RESOURCE });
    expect(s.auditEvents().some((e) => e.event === 'consent.remembered' && e.user === dev.id)).toBe(true);

    // A new browser: login, then straight to the client.
    const b2 = new Browser(s.url);
    const { html: login } = await startAuthorization(b2, authorizeUrl(s, validParams(conf.id, conf.redirectUris[0]!, { scope: 'db:write' })));
    const after = await submitLogin(b2, login, dev.email);
    expect(after.status).toBe(303);
    expect(new URL(after.headers.get('location')!).searchParams.get('code')).toBeTruthy();

    // Asking for more than was allowed shows the screen again.
    const b3 = new Browser(s.url);
    const { html: first } = await reachConsent(b3, authorizeUrl(s, validParams(conf.id, conf.redirectUris[0]!, { scope: 'db:read' })), admin.email);
    expect((await decide(b3, first, 'allow')).status).toBe(303);
    const more = await b3.get(authorizeUrl(s, validParams(conf.id, conf.redirectUris[0]!, { scope: 'db:read db:admin' })));
    expect(more.status).toBe(303);
    expect(more.headers.get('location')).toMatch(/^consent\?request=/);
    const same = await b3.get(authorizeUrl(s, validParams(conf.id, conf.redirectUris[0]!, { scope: 'db:read' })));
    expect(same.status).toBe(302);
  });

  it('[RFC8252-NO-AUTO-APPROVE] shows the consent screen again to public clients and loopback redirects, whatever was allowed before (RFC 8252 §8.6)', async () => {
    const native = await seedClient(s, { name: 'Native CLI', redirectUris: ['http://127.0.0.1/callback'] });
    const loopbackConfidential = await seedClient(s, { name: 'Local Agent', redirectUris: ['http://127.0.0.1/callback'], confidential: true });
    const dev = await seedUser(s, 'developer');
    const b = new Browser(s.url);
    const allow = async (clientId: string, redirectUri: string) => {
      const { html } = await reachConsent(b, authorizeUrl(s, validParams(clientId, redirectUri)), dev.email);
      expect((await decide(b, html, 'allow')).status).toBe(303);
    };
    await allow(native.id, 'http://127.0.0.1:5555/callback');
    await allow(web.id, web.redirectUris[0]!);
    await allow(loopbackConfidential.id, 'http://127.0.0.1:5556/callback');
    // Another local process reuses the native client's id with its own port and
    // PKCE. It gets the consent screen (where the person sees 127.0.0.1:31337), never a code.
    for (const [clientId, redirectUri] of [
      [native.id, 'http://127.0.0.1:31337/callback'], [native.id, 'http://127.0.0.1:5555/callback'],
      [web.id, web.redirectUris[0]!], [loopbackConfidential.id, 'http://127.0.0.1:5556/callback'],
    ] as const) {
      const res = await b.get(authorizeUrl(s, validParams(clientId, redirectUri, { state: 'attacker' })));
      expect(res.status, redirectUri).toBe(303);
      expect(res.headers.get('location'), redirectUri).toMatch(/^consent\?request=/);
    }
    // A new browser: login leads to the consent screen too, not straight to the client.
    const b2 = new Browser(s.url);
    const { html: login } = await startAuthorization(b2, authorizeUrl(s, validParams(native.id, 'http://127.0.0.1:5555/callback')));
    const after = await submitLogin(b2, login, dev.email);
    expect(after.headers.get('location')).toMatch(/^consent\?request=/);
    expect(s.auditEvents().some((e) => e.event === 'consent.remembered' && e.user === dev.id)).toBe(false);
  });

  it('[RFC9700-CSRF] refuses a consent POST without a valid CSRF token', async () => {
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(web.id, web.redirectUris[0]!)), (await seedUser(s, 'viewer')).email);
    const res = await b.post('/consent', { request: hidden(html, 'request'), decision: 'allow' });
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    const forged = await b.post('/consent', { _csrf: `${hidden(html, '_csrf')}x`, request: hidden(html, 'request'), decision: 'allow' });
    expect(forged.status).toBe(403);
  });

  it('sends a consent POST without a session back to an error page, not to the client', async () => {
    const b = new Browser(s.url);
    const { html } = await reachConsent(b, authorizeUrl(s, validParams(web.id, web.redirectUris[0]!)), (await seedUser(s, 'viewer')).email);
    b.cookies.delete('sid');
    const res = await decide(b, html, 'allow');
    expect(res.status).toBe(403);
    expect(res.headers.get('location')).toBeNull();
  });
});

describe('consent redirect to a real client callback', () => {
  let s: TestAuthServer;
  let callback: Server;
  let port: number;
  const hits: URL[] = [];

  beforeAll(async () => {
    s = await startAuthServer();
    callback = createServer((req, res) => {
      hits.push(new URL(req.url!, `http://127.0.0.1:${port}`));
      res.end('ok');
    });
    await new Promise<void>((r) => callback.listen(0, '127.0.0.1', r));
    port = (callback.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((r) => callback.close(r));
    await s.close();
  });

  it('[OAUTH21-LOOPBACK-PORT] Allow lands on the loopback callback (any port) with code, state and iss, and the consent page allowed that origin', async () => {
    const cli = await seedClient(s, { name: 'Local CLI', redirectUris: ['http://127.0.0.1/cb'] });
    const user = await seedUser(s, 'developer');
    const b = new Browser(s.url);
    const { html, res } = await reachConsent(b, authorizeUrl(s, validParams(cli.id, `http://127.0.0.1:${port}/cb`)), user.email);
    expect(res.headers.get('content-security-policy')).toContain(`form-action 'self' http://127.0.0.1:${port};`);
    const final = await fetch(`${s.url}/consent`, {
      method: 'POST',
      redirect: 'follow',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: [...b.cookies].map(([k, v]) => `${k}=${v}`).join('; ') },
      body: new URLSearchParams({ _csrf: hidden(html, '_csrf'), request: hidden(html, 'request'), decision: 'allow' }).toString(),
    });
    expect(final.status).toBe(200);
    expect(await final.text()).toBe('ok');
    expect(hits.length).toBe(1);
    expect(hits[0]!.pathname).toBe('/cb');
    expect(hits[0]!.searchParams.get('state')).toBe('st-123/+=?&x');
    expect(hits[0]!.searchParams.get('iss')).toBe(s.config.issuer);
    expect(await codeRow(s, hits[0]!.searchParams.get('code')!)).toMatchObject({ redirect_uri: `http://127.0.0.1:${port}/cb`, client_id: cli.id });
  });

  it('answers with a Continue link when CSP cannot name the redirect origin (IPv6 loopback)', async () => {
    const v6 = await seedClient(s, { name: 'IPv6 CLI', redirectUris: ['http://[::1]/cb'] });
    const user = await seedUser(s, 'viewer');
    const b = new Browser(s.url);
    const { html, res } = await reachConsent(b, authorizeUrl(s, validParams(v6.id, 'http://[::1]:8123/cb')), user.email);
    expect(res.headers.get('content-security-policy')).toContain("form-action 'self';");
    const done = await decide(b, html, 'allow');
    expect(done.status).toBe(200);
    expect(done.headers.get('location')).toBeNull();
    expect(await done.text()).toMatch(/<a class="button" href="http:\/\/\[::1\]:8123\/cb\?code=[^"]+&amp;state=/);
  });
});
